"""`reader-study analyse`: the answers and the key → one results object per generator (schema v2).

Per generator, task and reader (and pooled over readers), in the paper's form, mean ± std (sample std,
ddof = 1) of the ratings, with a 95% bootstrap CI: realism on the paper's scale (+2: the real image much
more realistic; `scales.toward_real`), alignment as rated. Also the share of realism pairs in which the
reader leaned towards the real image (rating > 0), the alignment (and realism) means per finding, and the
agreement of the readers on the same items: weighted Cohen's κ (quadratic, on the −2…2 steps) for two
readers (the mean over pairs for more) and Krippendorff's α (ordinal) for any number.

The bootstrap resamples units: a realism slot (one pair per generator, matched on the finding) or an
alignment prompt (one item per generator). Every generator of a study has the same units and the same
resamples, so `cxrgen-bench compare reader.A.json reader.B.json` makes paired comparisons, as for any
other metric. Pooled over readers, the ratings of one unit stay together (a clustered bootstrap).

``--out FILE`` is the file written: for one generator its results object; for several, one document with
each generator's results object and each reader's progress (`combined`), and, when asked
(``per_generator``), FILE.GENERATOR.json beside it, which `compare` and `leaderboard add` read.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..cache import key_of
from ..errors import InputError
from ..functional.agreement import cohen_kappa, krippendorff_alpha
from ..functional.bootstrap import BootstrapResult, percentile_ci, resample_weights
from ..registry import METRICS
from ..results.entry import Bootstrap, Entry, ResultView
from .db import check_study, owner_connection
from .scales import TASKS, VALUES, toward_real

ANALYSIS_VERSION = "1"
POOLED = "pooled"
COMBINED_KIND = "reader-study-analysis"  # what a FILE of several generators' results says it is


def _load(folder: Path) -> dict[str, Any]:
    with owner_connection(folder) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('study_id', 'created_at')").fetchall())
        readers = [n for (n,) in conn.execute("SELECT name FROM readers ORDER BY id")]
        items = {row[0]: {"task": row[1], "unit": row[2], "prompt_id": row[3], "generator": row[4], "finding": row[5],
                          "real_image": row[6]}
                 for row in conn.execute("SELECT i.id, i.task, k.unit, k.prompt_id, k.generator, k.finding, "
                                         "k.real_image FROM items i JOIN answer_key k ON k.item_id = i.id")}
        answers = conn.execute(
            "SELECT r.name, a.item_id, a.swap, ans.choice, ans.seconds FROM answers ans JOIN assignments a "
            "ON a.id = ans.assignment_id JOIN readers r ON r.id = a.reader_id ORDER BY r.id, a.item_id").fetchall()
    return {"meta": meta, "readers": readers, "items": items, "answers": answers}


def _entry(metric: str, key: str, value: float | None, n_requested: int, n_effective: int,
           details: dict[str, Any], **optional: Any) -> Entry:
    return METRICS.get(metric)().entry(key, value, n_requested, n_effective, details, **optional)


def _with_bootstrap(entry: Entry, replicates: np.ndarray, resamples: int, seed: int, units: list[str]) -> Entry:
    if entry.value is None or resamples <= 0:
        return entry
    from ..registry import card_for

    result = BootstrapResult(entry.value, percentile_ci(replicates, estimate=entry.value), replicates, resamples, seed)
    lo, hi = card_for(entry.key).value_range
    entry.ci95 = None if result.ci95 is None else (result.ci95[0] if lo is None else max(result.ci95[0], lo),
                                                   result.ci95[1] if hi is None else min(result.ci95[1], hi))
    entry.bootstrap = Bootstrap.from_json({
        **result.as_dict(), "method": "percentile of replicates re-centred on the estimate, resampling units "
        "(realism slots / alignment prompts), readers' ratings of a unit together", "units_sha256": key_of(units=units)})
    return entry


def _mean_std(values: np.ndarray) -> tuple[float | None, float | None]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None, None
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else None


def _weighted_means(table: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Replicates of the mean of all ratings in ``table`` (readers × units; NaN = not rated), per resample."""
    rated = np.isfinite(table).astype(np.float64)
    sums = weights @ np.nan_to_num(table).sum(axis=0)
    counts = weights @ rated.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.where(counts > 0, counts, 1), np.nan)


def _per_finding(table: np.ndarray, findings: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for finding in sorted(set(findings)):
        cols = [i for i, f in enumerate(findings) if f == finding]
        out[finding] = _mean_std(table[:, cols].reshape(-1))[0]
    return out


def _agreement(table: np.ndarray, readers: list[str], statistic: str) -> tuple[float | None, dict[str, Any]]:
    if statistic == "kappa":
        pairs = {}
        for i in range(len(readers)):
            for j in range(i + 1, len(readers)):
                pairs[f"{readers[i]}-{readers[j]}"] = cohen_kappa(table[i], table[j], "quadratic", labels=VALUES)
        finite = [v for v in pairs.values() if np.isfinite(v)]
        return (float(np.mean(finite)) if finite else None), {"pairs": pairs}
    alpha = krippendorff_alpha(table, "ordinal")
    return (alpha if np.isfinite(alpha) else None), {}


def _agreement_replicates(table: np.ndarray, readers: list[str], statistic: str, weights: np.ndarray) -> np.ndarray:
    out = np.full(len(weights), np.nan)
    for b, w in enumerate(weights):
        value, _ = _agreement(table[:, np.repeat(np.arange(table.shape[1]), w)], readers, statistic)
        out[b] = np.nan if value is None else value
    return out


def task_entries(task: str, table: np.ndarray, readers: list[str], units: list[str], findings: list[str],
                 seconds: np.ndarray, resamples: int, seed: int) -> list[Entry]:
    """The entries of one task of one generator: ``table`` is readers × units on the analysis scale."""
    n_units = len(units)
    weights = resample_weights(n_units, resamples, seed) if resamples > 0 else np.zeros((0, n_units), np.int64)
    metric = f"reader_{task}"
    entries = []
    rows = [(POOLED, table)] + [(name, table[i:i + 1]) for i, name in enumerate(readers)]
    for who, part in rows:
        rated = int(np.isfinite(part).any(axis=0).sum())
        mean, std = _mean_std(part.reshape(-1))
        spent = seconds if who == POOLED else seconds[readers.index(who):readers.index(who) + 1]
        details = {"readers": readers if who == POOLED else [who], "ratings": int(np.isfinite(part).sum()),
                   "per_finding": _per_finding(part, findings),
                   "histogram": {str(v): int((part == v).sum()) for v in VALUES},
                   "median_seconds": float(np.nanmedian(spent)) if np.isfinite(spent).any() else None}
        key = f"{metric}[{who}]"
        if mean is None:
            entries.append(_entry(metric, key, None, n_units, 0, details,
                                  error=f"no {task} answers from {'any reader' if who == POOLED else who} yet"))
            continue
        entry = _entry(metric, key, mean, n_units, rated, details, std=std)
        if rated < n_units:
            entry.warnings = [(f"{n_units - rated} of {n_units} {task} units not rated by "
                                  f"{'any reader' if who == POOLED else who}")]
        entries.append(_with_bootstrap(entry, _weighted_means(part, weights), resamples, seed, units))
        if task == "realism":
            lean = np.where(np.isfinite(part), (part > 0).astype(np.float64), np.nan)
            share, _ = _mean_std(lean.reshape(-1))
            ties = float(np.nanmean(np.where(np.isfinite(part), (part == 0).astype(float), np.nan)))
            lean_entry = _entry("reader_lean_real", f"reader_lean_real[{who}]", share, n_units, rated,
                                {"readers": details["readers"], "equally_realistic": ties,
                                 "lean_synthetic": 1.0 - share - ties})
            entries.append(_with_bootstrap(lean_entry, _weighted_means(lean, weights), resamples, seed, units))
    if len(readers) >= 2:
        both = np.isfinite(table).sum(axis=0) >= 2
        for statistic, metric_name in (("kappa", "reader_kappa"), ("alpha", "reader_alpha")):
            value, extra = _agreement(table, readers, statistic)
            details = {"readers": readers, "units_rated_by_two_or_more": int(both.sum()), **extra,
                       "definition": "quadratic-weighted Cohen's kappa on the -2..2 steps (mean over reader pairs)"
                       if statistic == "kappa" else "Krippendorff's alpha, ordinal, all readers, missing allowed"}
            key = f"{metric_name}[{task}]"
            if value is None:  # not a failure: the ratings leave it undefined (said, and shown as —)
                entries.append(_entry(metric_name, key, None, n_units, int(both.sum()), details,
                                      warnings=[("undefined on these items: no unit rated by two readers, or no "
                                                 "variation in the ratings (see details.whole_study)")]))
                continue
            entry = _entry(metric_name, key, value, n_units, int(both.sum()), details)
            replicates = _agreement_replicates(table, readers, statistic, weights) if resamples > 0 else np.zeros(0)
            entries.append(_with_bootstrap(entry, replicates, resamples, seed, units))
    return entries


def output_paths(out: str | Path, generators: list[str]) -> dict[str, Path]:
    """One file per generator: ``out`` itself for one, OUT.GENERATOR.json beside it for several."""
    out = Path(out)
    if len(generators) == 1:
        return {generators[0]: out}
    stem = out.name.removesuffix(".json")
    return {g: out.with_name(f"{stem}.{g}.json") for g in generators}


def analyse(folder: str | Path, out: str | Path | None = None, bootstrap: int = 1000, bootstrap_seed: int = 0,
            profile: str = "roentgen2022", name: str | None = None,
            log: Callable[[str], None] | None = None, per_generator: bool = True) -> dict[str, dict[str, Any]]:
    """Results objects of the study in ``folder``, by generator (validated). Given ``out``, they are written
    to it (`write_analysis`): one generator's results object, or several generators' in one document; with
    ``per_generator`` (the Python default, as before; the CLI asks with --per-generator) also
    OUT.GENERATOR.json beside it for each of several."""
    started = time.monotonic()
    folder = Path(folder)
    settings = check_study(folder, verify_images=False)
    if bootstrap < 0:
        raise InputError("--bootstrap must be 0 (no CIs) or a number of resamples")
    study = Ratings.load(folder)
    if name and len(study.generators) > 1:
        raise InputError(f"--name names one model, but this study has {len(study.generators)} generators "
                         f"({', '.join(study.generators)}); each result is named after its generator")
    results: dict[str, dict[str, Any]] = {}
    for gen in study.generators:
        entries, units = study.generator_entries(gen, bootstrap, bootstrap_seed)
        results[gen] = _result(study, gen, entries, units, settings, folder, profile, name, bootstrap,
                               bootstrap_seed, started)
    if out is not None:
        for path in write_analysis(results, out, study.progress(), folder, per_generator):
            if log:
                log(f"wrote {path}")
    return results


def write_analysis(results: dict[str, dict[str, Any]], out: str | Path, progress: list[ReaderProgress],
                   folder: Path, per_generator: bool) -> list[Path]:
    """Write ``out`` (and, for several generators with ``per_generator``, OUT.GENERATOR.json beside it);
    the paths written, ``out`` first."""
    from ..results.store import write_result

    out = Path(out)
    if len(results) == 1:  # the results object itself: what `leaderboard add` and `compare` read
        return [write_result(next(iter(results.values())), out)]
    written = [_write_document(combined(results, progress, folder), out)]
    if per_generator:
        written += [write_result(results[gen], path) for gen, path in output_paths(out, list(results)).items()]
    return written


def combined(results: dict[str, dict[str, Any]], progress: list[ReaderProgress], folder: Path) -> dict[str, Any]:
    """One study's analysis of several generators in one document: each generator's results object
    (results schema, validated) under its name, and how far each reader got."""
    return {"kind": COMBINED_KIND, "version": ANALYSIS_VERSION, "study": str(folder),
            "complete": all(p.done for p in progress), "readers": [p.to_json() for p in progress],
            "generators": list(results), "results": results}


def _write_document(document: dict[str, Any], path: Path) -> Path:
    """Atomically, like a results file; when that fails the text is kept elsewhere, as `write_result` does."""
    from ..errors import ResultsNotWritten
    from ..files import atomic_write_text
    from ..results.store import _save_elsewhere, dumps

    text = dumps(document)
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise ResultsNotWritten(path, exc, _save_elsewhere(path, text), text) from exc
    return path


@dataclass(frozen=True)
class ReaderProgress:
    """How far one reader got: per task, (items rated, items given); every reader is given every item."""

    reader: str
    tasks: dict[str, tuple[int, int]]

    @property
    def rated(self) -> int:
        return sum(rated for rated, _ in self.tasks.values())

    @property
    def total(self) -> int:
        return sum(total for _, total in self.tasks.values())

    @property
    def done(self) -> bool:
        return self.rated == self.total

    def to_json(self) -> dict[str, Any]:
        return {"reader": self.reader, "rated": self.rated, "total": self.total,
                "tasks": {task: {"rated": rated, "total": total} for task, (rated, total) in self.tasks.items()}}

    def describe(self) -> str:
        """"reader r2: 5 of 12 rated (realism 5 of 6, alignment 0 of 6)"; the tasks only when not done."""
        text = f"reader {self.reader}: {self.rated} of {self.total} rated"
        if self.done:
            return text
        return text + " (" + ", ".join(f"{task} {rated} of {total}" for task, (rated, total) in self.tasks.items()
                                       if total) + ")"


def reader_progress(folder: str | Path) -> list[ReaderProgress]:
    """How far each reader of the study in ``folder`` got."""
    return Ratings.load(Path(folder)).progress()


def describe_progress(progress: list[ReaderProgress]) -> str | None:
    """Every reader's progress and the ratings left; None when every reader has rated every item."""
    left = sum(p.total - p.rated for p in progress)
    if not left:
        return None
    return f"study incomplete: {'; '.join(p.describe() for p in progress)}; {left} rating{'s' * (left != 1)} left"


class Ratings:
    """A study's answers on the analysis scale (realism toward the real image), with the key's items."""

    def __init__(self, data: dict[str, Any]):
        self.meta, self.readers, self.items = data["meta"], data["readers"], data["items"]
        self.generators = sorted({it["generator"] for it in self.items.values()})
        self.rating: dict[tuple[str, int], float] = {}
        self.seconds: dict[tuple[str, int], float] = {}
        for reader, item_id, swap, choice, spent in data["answers"]:
            item = self.items[item_id]
            value = choice if item["task"] == "alignment" else \
                toward_real(choice, (item["real_image"] == "b") != bool(swap))
            self.rating[reader, item_id] = float(value)
            self.seconds[reader, item_id] = float(spent)
        self.whole = self._whole_study()

    @classmethod
    def load(cls, folder: Path) -> "Ratings":
        return cls(_load(folder))

    def table(self, ids: list[int], values: dict[tuple[str, int], float]) -> np.ndarray:
        """readers × items (NaN: not rated)."""
        return np.array([[values.get((r, i), np.nan) for i in ids] for r in self.readers], dtype=np.float64)

    def _whole_study(self) -> dict[str, dict[str, float | None]]:
        """Agreement over every item of the study (all generators): what describes the readers, whatever each
        generator's items happen to hold (one generator's pairs may all get the same rating)."""
        whole: dict[str, dict[str, float | None]] = {}
        for task in TASKS:
            ids = sorted(i for i, it in self.items.items() if it["task"] == task)
            if ids and len(self.readers) >= 2:
                table = self.table(ids, self.rating)
                whole[task] = {"kappa": _agreement(table, self.readers, "kappa")[0],
                               "alpha": _agreement(table, self.readers, "alpha")[0], "items": len(ids)}
        return whole

    def generator_entries(self, gen: str, bootstrap: int, seed: int) -> tuple[list[Entry], dict[str, str]]:
        """Every entry of one generator, and the sha256 of each task's units."""
        entries: list[Entry] = []
        units_sha256: dict[str, str] = {}
        for task in TASKS:
            mine = sorted((it["unit"], item_id) for item_id, it in self.items.items()
                          if it["task"] == task and it["generator"] == gen)
            if not mine:
                continue
            units, ids = [u for u, _ in mine], [i for _, i in mine]
            found = task_entries(task, self.table(ids, self.rating), self.readers, units,
                                 [self.items[i]["finding"] for i in ids], self.table(ids, self.seconds), bootstrap, seed)
            for entry in found:
                if entry.metric in ("reader_kappa", "reader_alpha") and task in self.whole:
                    entry.details["whole_study"] = {"value": self.whole[task][entry.metric.split("_")[1]],
                                                    "items": self.whole[task]["items"], "generators": self.generators}
            entries += found
            units_sha256[task] = key_of(units=units)
        return entries, units_sha256

    def progress(self) -> list[ReaderProgress]:
        tasks = {task: [i for i, it in self.items.items() if it["task"] == task] for task in TASKS}
        return [ReaderProgress(reader, {task: (sum(1 for i in ids if (reader, i) in self.rating), len(ids))
                                        for task, ids in tasks.items()})
                for reader in self.readers]

    def answered(self, gen: str) -> tuple[int, int]:
        """(answers given, answers expected) for one generator's items."""
        answered = sum(1 for (r, i) in self.rating if self.items[i]["generator"] == gen)
        return answered, len(self.readers) * sum(1 for it in self.items.values() if it["generator"] == gen)


def _result(study: Ratings, gen: str, entries: list[Entry], units: dict[str, str], settings: dict[str, Any],
            folder: Path, profile: str, name: str | None, bootstrap: int, bootstrap_seed: int,
            started: float) -> dict[str, Any]:
    """One generator's validated results object."""
    from ..evaluation.subjects import StudySubject
    from ..profiles import get_profile
    from ..results.store import to_json_safe, validate
    from ..scoring.record import new_result

    inputs = settings.get("inputs", {})
    generated = (inputs.get("generated") or {}).get(gen) or {}
    subject = StudySubject("reader-study", {
        "version": ANALYSIS_VERSION, "generator": gen, "readers": study.readers, "bootstrap": bootstrap,
        "bootstrap_seed": bootstrap_seed, **{k: settings.get(k) for k in (
            "seed", "balance_by", "realism_pairs", "alignment_items", "generators", "size")}},
        {"study_id": study.meta.get("study_id"), "units_sha256": dict(units),
         "answers_sha256": key_of(answers=sorted((r, i, v) for (r, i), v in study.rating.items()
                                                if study.items[i]["generator"] == gen)),
         "prompts_sha256": (inputs.get("prompts") or {}).get("sha256"),
         "real_content_sha256": (inputs.get("real") or {}).get("content_sha256"),
         "generated_content_sha256": generated.get("content_sha256")})
    answered, total = study.answered(gen)
    run = {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "duration_s": round(time.monotonic() - started, 3),
           "settings": {"study": "reader-study", "folder": str(folder), "answers": answered, "expected": total,
                        "complete": answered == total}}
    provenance = generated.get("generator")
    result = new_result(subject, get_profile(profile), {e.key: e for e in entries}, {}, run, name or gen,
                        {"generator": provenance} if provenance else None)
    return validate(to_json_safe(result))


def summary(results: dict[str, dict[str, Any]]) -> str:
    """The paper's form, per generator: mean ± std [95% CI] per reader and pooled; lean-real share; κ and α."""
    def fmt(entry: Entry | None, percent: bool = False) -> str:
        if entry is None or entry.value is None:
            return "—"
        v = entry.value
        text = f"{100 * v:.0f}%" if percent else f"{v:+.2f}"
        if entry.std is not None and not percent:
            text += f" ± {entry.std:.2f}"
        if entry.ci95:
            lo, hi = entry.ci95
            text += f" [{100 * lo:.0f}, {100 * hi:.0f}]" if percent else f" [{lo:+.2f}, {hi:+.2f}]"
        return text

    lines = []
    for gen, result in results.items():
        m = ResultView.of(result).entries
        readers = result["subject"]["settings"]["readers"]
        lines.append(f"{gen}:")
        for task in TASKS:
            if f"reader_{task}[{POOLED}]" not in m:
                continue
            who = ", ".join(f"{r} {fmt(m.get(f'reader_{task}[{r}]'))}" for r in readers)
            lines.append(f"  {task:9s} pooled {fmt(m[f'reader_{task}[{POOLED}]'])}; {who}")
            if task == "realism":
                lines.append(f"  {'':9s} leaned towards the real image: {fmt(m.get('reader_lean_real[pooled]'), True)}")
            agreement = [f"{label} {m[k].value:.2f}" for label, k in (("κ", f"reader_kappa[{task}]"),
                                                                       ("α", f"reader_alpha[{task}]"))
                         if k in m and m[k].value is not None]
            if agreement:
                lines.append(f"  {'':9s} agreement on these items: {', '.join(agreement)}")
    first = ResultView.of(next(iter(results.values()))).entries if results else None
    if first is not None and len(results) > 1:
        for task in TASKS:
            kappa_entry, alpha_entry = first.get(f"reader_kappa[{task}]"), first.get(f"reader_alpha[{task}]")
            whole = kappa_entry.details.get("whole_study") if kappa_entry else None
            alpha = alpha_entry.details.get("whole_study") if alpha_entry else None
            if whole:
                lines.append(f"agreement on all {whole['items']} {task} items: κ (quadratic) "
                             f"{_number(whole['value'])}, α (ordinal) {_number((alpha or {}).get('value'))}")
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
