"""Checkpoint sweeps: every checkpoint of a training run (or every pipeline listed) generated and scored
under one protocol, so the metrics can be read against the training step (RoentGen Tables 2 and 6 over
training, the choice of a checkpoint, a regression gate between the last and the best one).

One unit per checkpoint (or pipeline), run by the studies machinery (`base.run_study`): resumable, and
under torchrun each process takes whole units. A unit, in OUT/units/<id>/:
1. a trainer checkpoint is rebuilt as a pipeline folder (``pipeline/``, through the registered trainer
   that wrote it; removed once the unit is done); a listed pipeline is used where it is;
2. the images are generated into ``images/`` by the resumable harness (kept: each checkpoint's images);
3. the image metrics are scored on them, the text-encoder metrics (CheXpert@k) on its text encoder;
   both go into one results object whose subject carries the run and the step.
A unit is one process's work from start to end (the processes share units, not images), so its numbers
do not depend on how many processes ran the sweep or where one was killed.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

from ..cache import Cache
from ..data.manifest import ImageSet, PromptSet
from ..distributed import alone
from ..errors import InputError
from ..evaluation.context import RunOptions
from ..models.folders import folder_sha256
from ..results.entry import Entry, ResultView
from ..registry import METRICS, TRAINERS, find_card
from ..results.store import validate
from ..scoring.checks import check_run_arguments, parse_metric_specs
from ..scoring.runner import build_subject, evaluate
from ..training import checkpoint_settings, checkpoints, step_of
from .base import UNITS_DIR, Study, Unit, unit_record

PIPELINE_DIR, IMAGES_DIR = "pipeline", "images"


def file_sha256(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        try:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        except OSError as exc:  # e.g. a checkpoint the trainer pruned while the sweep listed it
            raise InputError(f"{path}: cannot be read ({exc.strerror or exc}); if the trainer pruned this checkpoint, "
                             "run the sweep again: it lists the checkpoints anew") from None
    return digest.hexdigest()


def pipeline_step(folder: Path) -> int | None:
    """The training step of a listed pipeline: from its name (checkpoint-N, step-N) or the trainer's
    training.json beside it; None when neither says (it is then placed by the order given)."""
    named = re.fullmatch(r"(?:checkpoint|step)-(\d+)", folder.name)
    if named:
        return int(named[1])
    try:
        return int(json.loads((folder / "training.json").read_text(encoding="utf-8"))["settings"]["max_steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def best_index(results: list[dict[str, Any]], key: str) -> int | None:
    """The position of the best value of ``key`` (direction from its card; the earliest of equal values),
    None when no result has it."""
    card = find_card(key)
    if card is None or card.direction not in ("lower", "higher"):
        raise InputError(f"--best-by {key}: no metric card says which way it is better; `cxrgen-bench ls metrics`")
    sign = 1 if card.direction == "lower" else -1
    scored = [(sign * e.value, i) for i, r in enumerate(results)
              if (e := ResultView.of(r).entry(key)) is not None and e.value is not None]
    return min(scored)[1] if scored else None


class SweepStudy(Study):
    """Settings: ``run`` (a trainer run folder or its checkpoints/) or ``pipelines`` (folders, in the order
    of the curve); ``prompts``, ``reference``, ``reports`` (CheXpert@k; default: the prompts), ``metrics``,
    ``extraction``, ``generation`` (GenerationSettings fields), ``bootstrap``, ``bootstrap_seed``,
    ``best_by`` (the key that picks the best unit). ``out``: the sweep folder, whose finished units stay in
    the sweep after the trainer pruned their checkpoint."""

    name = "sweep"
    version = "1"
    help = "generate and score every checkpoint of a training run, or every pipeline listed"

    def __init__(self, settings: dict[str, Any], profile: Any = "roentgen2022", options: RunOptions | None = None,
                 out: str | Path | None = None, cache_dir: str | Path | None = None):
        super().__init__(settings, profile, options)
        self.out = Path(out) if out is not None else None
        self.cache = Cache(cache_dir)
        if bool(settings.get("run")) == bool(settings.get("pipelines")):
            raise InputError("sweep one thing: a training run (--run RUN/) or a list of pipelines (--pipelines a/ b/)")
        for flag in ("prompts", "reference", "metrics"):
            if not settings.get(flag):
                raise InputError(f"sweep needs --{flag}")
        specs = parse_metric_specs(settings["metrics"])
        text = {n for n, _ in specs if "text_encoder" in METRICS.get(n).card.requires}
        joined = [(n, f"{n}[{'+'.join(o)}]" if o else n) for n, o in specs]
        self.image_metrics = [m for n, m in joined if n not in text]
        self.text_metrics = [m for n, m in joined if n in text]
        check_run_arguments(device=self.options.device, metrics=settings["metrics"], profile=self.profile,
                            batch_size=self.options.batch_size, workers=self.options.workers,
                            bootstrap=settings.get("bootstrap", 0))
        self.prompts = PromptSet.from_csv(settings["prompts"])
        if self.profile.generation.get("max_prompts"):  # the prompts generation keeps are the ones scored
            self.prompts = self.prompts.subset(int(self.profile.generation["max_prompts"]))
        self.reports = PromptSet.from_csv(settings["reports"]) if settings.get("reports") else self.prompts
        self.reference = ImageSet.from_folder(settings["reference"])
        self._units: list[Unit] | None = None

    # --- what is swept -----------------------------------------------------------------------------
    def data(self) -> dict[str, Any]:
        return {"prompts_sha256": self.prompts.sha256, "reports_sha256": self.reports.sha256,
                "reference_sha256": self.reference.content_sha256}

    def run_folder(self) -> Path:
        folder = Path(self.settings["run"])
        return folder / "checkpoints" if (folder / "checkpoints").is_dir() else folder

    def run_name(self) -> str:
        folder = self.run_folder()
        return folder.parent.name if folder.name == "checkpoints" else folder.name

    def units(self) -> list[Unit]:
        if self._units is None:
            self._units = self._checkpoint_units() if self.settings.get("run") else self._pipeline_units()
        return self._units

    def _checkpoint_units(self) -> list[Unit]:
        folder = self.run_folder()
        if not folder.is_dir():
            raise InputError(f"--run {self.settings['run']}: no such folder")
        found = {f"step-{step_of(c):07d}": c for c in checkpoints(folder)}
        units = {uid: Unit(uid, 0, {"source": str(c), "step": step_of(c), "source_sha256": file_sha256(
            c / "state.json", c / "trainable.safetensors")}) for uid, c in found.items()}
        # a checkpoint the trainer pruned (--keep-checkpoints) after its unit finished stays in the sweep
        for record in sorted((self.out / UNITS_DIR).glob("step-*.json")) if self.out else []:
            done = unit_record(record)
            if done is not None and record.stem not in units:
                units[record.stem] = Unit(record.stem, 0, done["settings"])
        if not units:
            raise InputError(f"{folder}: no trainer checkpoints (checkpoint-N with state.json); a run writes them "
                             "every --checkpoint-every steps and keeps --keep-checkpoints of them (0: all)")
        return [units[uid] for uid in sorted(units)]

    def _pipeline_units(self) -> list[Unit]:
        units, seen = [], set()
        for given in self.settings["pipelines"]:
            folder = Path(given)
            if not (folder / "model_index.json").is_file():
                raise InputError(f"--pipelines {given}: not a diffusers pipeline folder (no model_index.json)")
            uid = re.sub(r"[^A-Za-z0-9._-]+", "-", folder.resolve().name).strip("-.") or "pipeline"
            while uid in seen:  # two folders of one name (a/final, b/final): the second gets a suffix
                uid += "-" + hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:6]
            seen.add(uid)
            units.append(Unit(uid, 0, {"source": str(folder), "step": pipeline_step(folder),
                                       "source_sha256": folder_sha256(folder)}))
        return units

    def check(self, out: Path) -> None:
        """A finished unit whose checkpoint changed since (another run written into the same folder) would mix
        two runs in one curve: refuse, naming the unit to delete."""
        for unit in self.units():
            record = unit_record(out / UNITS_DIR / f"{unit.id}.json")
            if record is not None and record.get("settings") != unit.settings:
                raise InputError(f"{out / UNITS_DIR / unit.id}.json was made from another {unit.settings['source']} "
                                 f"(its content changed since it was swept); delete that file and the folder "
                                 f"{out / UNITS_DIR / unit.id} to sweep it again")
            if record is not None:  # killed between recording the unit and tidying it
                shutil.rmtree(out / UNITS_DIR / unit.id / PIPELINE_DIR, ignore_errors=True)

    # --- one unit ----------------------------------------------------------------------------------
    def pipeline_of(self, unit: Unit, folder: Path) -> Path:
        source = Path(unit.settings["source"])
        if not self.settings.get("run"):
            return source
        pipeline = folder / PIPELINE_DIR
        if not (pipeline / "model_index.json").is_file():
            if not source.is_dir():
                raise InputError(f"{source}: the checkpoint of unit {unit.id} is gone (pruned by the trainer?) "
                                 "before it was swept")
            method = checkpoint_settings(source).get("method", "roentgen")
            self.options.log(f"sweep: rebuilding {source} as a pipeline (trainer {method})")
            TRAINERS.get(method)().export_checkpoint(source, pipeline)
        return pipeline

    def run_unit(self, unit: Unit, folder: Path) -> dict[str, Any]:
        from ..generation import generate
        from ..generation.harness import Shard

        pipeline = self.pipeline_of(unit, folder)
        step = unit.settings["step"]
        name = f"{self.run_name()} @ step {step}" if self.settings.get("run") else Path(unit.settings["source"]).name
        options = RunOptions(weights=self.options.weights, allow_pickle=self.options.allow_pickle,
                             device=self.options.device, batch_size=self.options.batch_size,
                             workers=self.options.workers, bootstrap=int(self.settings.get("bootstrap") or 0),
                             bootstrap_seed=int(self.settings.get("bootstrap_seed") or 0),
                             progress=self.options.progress, log=self.options.log)
        with alone():
            results = []
            if self.image_metrics:
                generate(generator="diffusers", model=str(pipeline), prompts=self.prompts, out=folder / IMAGES_DIR,
                         profile=self.profile, progress=self.options.progress, shard=Shard(),
                         device=self.options.device, batch_size=self.options.batch_size,
                         allow_pickle=self.options.allow_pickle, **self.settings.get("generation", {}))
                subject = build_subject(images=folder / IMAGES_DIR, reference=self.reference, prompts=self.prompts)
                results.append(evaluate(subject, self.image_metrics, self.profile, model_name=name, cache=self.cache,
                                        options=options))
            if self.text_metrics:
                subject = build_subject(text_encoder=self._text_encoder(unit, pipeline), reports=self.reports,
                                        extraction=self.settings.get("extraction"), device=self.options.device)
                results.append(evaluate(subject, self.text_metrics, self.profile, model_name=name, cache=self.cache,
                                        options=options))
        where = {"step": step, "source": unit.settings["source"]} if step is not None else \
            {"source": unit.settings["source"]}
        if step is not None:
            where["run"] = str(self.run_folder()) if self.settings.get("run") else \
                str(Path(unit.settings["source"]).resolve().parent)
        return merged(results, where)

    def _text_encoder(self, unit: Unit, pipeline: Path) -> Any:
        """The checkpoint's own text encoder where the trainer kept it (the results then name a folder that
        stays), else the pipeline's. A run with EMA saves the live weights there while the pipeline (and so
        the images) carries the EMA copy: the pipeline's, then, so both measure the same text encoder."""
        from ..models.text.hf import DiffusersTextEncoder
        from ..training.checkpoint import checkpoint_settings

        source = Path(unit.settings["source"])
        own = self.settings.get("run") and (source / "text_encoder").is_dir() and \
            not checkpoint_settings(source).get("ema")
        folder = source if own else pipeline
        return DiffusersTextEncoder(folder, device=self.options.device, allow_pickle=self.options.allow_pickle)

    def unit_done(self, unit: Unit, folder: Path) -> None:
        shutil.rmtree(folder / PIPELINE_DIR, ignore_errors=True)  # rebuilt from the checkpoint if ever needed

    # --- the sweep as a whole ----------------------------------------------------------------------
    def best_by(self, results: list[dict[str, Any]]) -> str:
        """--best-by, or the first key of the first metric asked for that the results hold."""
        if self.settings.get("best_by"):
            return self.settings["best_by"]
        first = parse_metric_specs(self.settings["metrics"])[0][0]
        keys = [k for r in results for k, e in ResultView.of(r).entries.items() if e.metric == first]
        if not keys:
            raise InputError(f"the results hold no {first} value to pick the best unit by; choose one with --best-by")
        return keys[0]

    def summarise(self, outputs: dict[str, dict[str, Any]]) -> list[Entry]:
        """The last unit's values (what the run ends with), each with its curve over the units and the best."""
        ids = list(outputs)
        results = [ResultView.of(outputs[i]) for i in ids]
        key = self.best_by(list(outputs.values()))
        best = best_index(list(outputs.values()), key)
        entries = []
        for k, last in results[-1].entries.items():
            curve = [{"unit": i, "step": r.subject.get("step"), "value": e.value if e else None,
                      "ci95": list(e.ci95) if e and e.ci95 else None}
                     for i, r in zip(ids, results) for e in [r.entry(k)]]
            sweep = {"curve": curve, "last": ids[-1], "best_by": key, "best": None if best is None else ids[best]}
            last.details = {**last.details, "sweep": sweep}
            entries.append(last)
        return entries

    def results(self, out: str | Path) -> list[tuple[Unit, dict[str, Any]]]:
        """Each finished unit and its results object, in the sweep's order."""
        found = []
        for unit in self.units():
            record = unit_record(Path(out) / UNITS_DIR / f"{unit.id}.json")
            if record is not None:
                found.append((unit, record["outputs"]))
        return found


def merged(results: list[dict[str, Any]], where: dict[str, Any]) -> dict[str, Any]:
    """The image run's and the text-encoder run's results as one object: the images are the subject (with
    the run and step added), the text encoder is named in `model.text_encoder` beside the generator."""
    first = results[0]
    out = {**first, "subject": {**first["subject"], **where}, "metrics": dict(first["metrics"]),
           "weights": dict(first.get("weights") or {}), "run": {**first["run"]}}
    for other in results[1:]:
        if other["subject"]["kind"] == "text-encoder":
            out["model"] = {**out["model"], "text_encoder": {**other["subject"], **where}}
            out["report_set"] = other.get("report_set")
        out["metrics"].update(other["metrics"])
        out["weights"].update(other.get("weights") or {})
        out["run"]["duration_s"] = round(out["run"].get("duration_s", 0) + other["run"].get("duration_s", 0), 3)
        out["run"]["settings"] = {**out["run"]["settings"], "metrics": out["run"]["settings"]["metrics"]
                                  + other["run"]["settings"]["metrics"]}
        if other["status"] == "partial":
            out["status"] = "partial"
    if first["subject"]["kind"] == "text-encoder":  # text metrics alone: the subject is the text encoder
        out["subject"] = {**first["subject"], **where}
    return validate(out)
