"""An evaluation run: subject + profile + metrics → one validated results object.

`score()` is the Python surface; `cxrgen-bench score` parses flags into exactly these arguments and
prints exactly what this returns. Its arguments go into two objects once: `SubjectInputs` (what is
evaluated) and `ScoreRun` (the metrics, the profile, where the results go, and the run's
`RunOptions`); `score_reports`, `score_checkpoints` and `generate_then_score` build the same
`ScoreRun` from the same keywords. `evaluate()` runs any subject (image set, text encoder, report
pairs); studies write the same results through `record.new_result`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..cache import Cache
from ..data.manifest import ImageSet, PromptSet
from ..distributed import process_group
from ..errors import CxrgenError, InputError, ModelUnavailable
from ..evaluation.context import EvaluationContext, RunOptions
from ..evaluation.subjects import ImageSetSubject, Subject, TextEncoderSubject
from ..files import atomic_write_text
from ..models.weights import is_offline
from ..profiles import Profile, get_profile
from ..registry import METRICS
from ..results.entry import Entry
from ..results.store import to_json_safe, validate, write_result
from .checks import check_run_arguments, parse_metric_specs
from .defaults import runnable_defaults
from .record import environment, new_result

__all__ = ["DEFAULT_METRICS", "ScoreRun", "SubjectInputs", "build_subject", "environment", "evaluate",
           "generate_then_score", "new_result", "score", "score_checkpoints", "score_reports"]

DEFAULT_METRICS = ("fid", "ms_ssim", "classifier_auroc")
# the exceptions a metric (or a plug-in's bug) may raise without costing the other metrics of the run
RECORDED_FAILURES = (CxrgenError, ArithmeticError, ValueError, RuntimeError, TypeError, KeyError, IndexError,
                     AttributeError, OSError)


# --- one run ---------------------------------------------------------------------------------------

def check_requirements(subject: Subject, specs: list[tuple[str, list[str]]]) -> None:
    """Every metric's card requirements against what the subject provides, before any work starts."""
    problems = [msg for name, _ in specs if (msg := subject.missing_for(name, METRICS.get(name).card.requires))]
    if problems:
        raise InputError("; ".join(problems))


def evaluate(subject: Subject, metrics: str | Sequence[str], profile: str | Profile = "roentgen2022",
             out: str | Path | None = None, model_name: str | None = None, cache: Cache | None = None,
             options: RunOptions | None = None) -> dict[str, Any]:
    """Compute ``metrics`` on ``subject``; returns the results object (and writes it to ``out``).

    A metric that cannot be computed (missing weights, too few samples, ...) is recorded with its
    error and the result is marked ``status: partial``; with ``options.strict`` the first such error
    is raised instead and nothing is written. A metric whose card requires what the subject cannot
    provide (CheXpert@k of an image folder) is refused before any work starts.

    Under torchrun every process computes its share of the features the metrics declare
    (`Metric.feature_requests`, `evaluation.sharding`); rank 0 then computes the metrics and writes the
    results, and the other ranks return None."""
    started = time.monotonic()
    options = options or RunOptions()
    prof = get_profile(profile)
    specs = parse_metric_specs(metrics)
    check_requirements(subject, specs)
    model = subject.model()  # read before the work: a problem with it must not cost the computed metrics
    ctx = EvaluationContext(subject, prof, cache or Cache(), options)
    to_run = [(name, opts, _metric(prof, name, opts)) for name, opts in specs]
    with process_group(options.device) as here:
        ctx.prefetch(_feature_requests([metric for _, _, metric in to_run], ctx))
    if not here.root:
        return None  # type: ignore[return-value]  # rank 0 computes the metrics and writes the results
    entries: dict[str, Entry] = {}
    for name, opts, metric in to_run:
        ctx.log(f"metric {name}[{'+'.join(opts)}]" if opts else f"metric {name}")
        for entry in _entries_of(metric, name, ctx):
            entries[entry.key] = entry
    run = _run_record(ctx, specs, here.size, started, out)
    result = new_result(subject, prof, entries, ctx.models_used(), run, model_name, model)
    if out is not None:
        write_result(result, out)  # validates, then writes atomically: no half-written file
        for suffix, text in ctx.artifacts.items():
            atomic_write_text(Path(out).with_suffix(f".{suffix}"), text)
    return validate(to_json_safe(result))


def _metric(profile: Profile, name: str, options: list[str]) -> Any:
    """A registered metric with its profile block's typed settings."""
    cls = METRICS.get(name)
    return cls(profile.settings_for(cls.block_name()), options)


def _feature_requests(metrics: list[Any], ctx: EvaluationContext) -> list[Any]:
    requests = []
    for metric in metrics:
        try:
            requests += metric.feature_requests(ctx)
        except CxrgenError:
            pass  # the metric meets it again in compute and records it in its own entry
    return requests


def _entries_of(metric: Any, name: str, ctx: EvaluationContext) -> list[Entry]:
    """The metric's typed entries: computed, or one entry saying why not; per group with --by; every null
    with its reason; a warning when the profile left the metric to its defaults."""
    try:
        entries = [e if isinstance(e, Entry) else Entry.read(e["key"], e) for e in metric.compute(ctx)]
    except Exception as exc:  # noqa: BLE001 — one failing metric (or plug-in bug) must not cost the others
        if ctx.options.strict or not isinstance(exc, RECORDED_FAILURES):
            raise
        message = str(exc) if isinstance(exc, CxrgenError) else \
            f"{type(exc).__name__} in metric {name} ({METRICS.source(name)}): {exc}"
        ctx.log(f"metric {name} " + (exc.brief if isinstance(exc, ModelUnavailable) else f"failed: {message}"))
        entries = [metric.entry(name, None, ctx.subject.n_units(), 0, error=message)]
    if ctx.options.by and isinstance(ctx.subject, ImageSetSubject) and "training_budget" not in metric.card.requires:
        from .subgroups import attach

        attach(metric, entries, ctx, ctx.options.by)
    for entry in entries:
        if entry.value is None and not entry.error and not entry.undefined:
            # every null needs its reason: a metric that has none to give says so generically
            entry.undefined = f"{entry.key} has no value on these data (its details say what was missing)"
        if entry.undefined:
            ctx.log(f"{entry.key} is undefined: {entry.undefined}")
        if metric.block_name() not in ctx.profile.metrics:
            entry.warn(f"profile {ctx.profile.name} does not configure {name}: the metric's built-in defaults were "
                       "used")
    return entries


def _run_record(ctx: EvaluationContext, specs: list[tuple[str, list[str]]], world_size: int, started: float,
                out: str | Path | None) -> dict[str, Any]:
    """How the run went: when, how long, on what, with which settings, and what it could not load."""
    from ..threads import chosen

    options = ctx.options
    run: dict[str, Any] = {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - started, 3), "device": options.device, "world_size": world_size,
        "settings": {"metrics": [f"{n}[{'+'.join(o)}]" if o else n for n, o in specs],
                     "batch_size": options.batch_size, "use_cache": ctx.cache.enabled,
                     "allow_pickle": options.allow_pickle, "bootstrap": options.bootstrap,
                     "bootstrap_seed": options.bootstrap_seed, "offline": is_offline(), **options.settings,
                     **({"by": list(options.by), "subgroups": ctx.profile.subgroups} if options.by else {})}}
    if chosen():  # how many threads computed it, and why (a timing read beside it needs this)
        run["threads"] = chosen()
    if ctx.unavailable:  # each model once, in full: the entries that needed it name it briefly
        run["unavailable_models"] = {name: {"message": u["message"], "accepted": u["accepted"]}
                                     for name, u in sorted(ctx.unavailable.items())}
    if out is not None and ctx.artifacts:
        run["artifacts"] = {name: str(Path(out).with_suffix(f".{name}")) for name in sorted(ctx.artifacts)}
    return run


# --- what `score` is given ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SubjectInputs:
    """What a `score` call evaluates: an image set (``images`` with ``reference`` and ``prompts``; read by a
    ``report_generator`` for rrg), or a text encoder with ``reports``. See `score` for each field."""

    images: str | Path | ImageSet | None = None
    reference: str | Path | ImageSet | None = None
    prompts: str | Path | PromptSet | None = None
    text_encoder: Any = None
    reports: str | Path | PromptSet | None = None
    extraction: str | Sequence[str] | None = None
    report_generator: Any = None
    trust_remote_code: bool = False
    layout: str | None = None
    reference_layout: str | None = None
    subset: bool = False
    allow_outside_paths: bool = False
    reference_prompts: str | Path | PromptSet | None = None

    @classmethod
    def take(cls, arguments: dict[str, Any]) -> "SubjectInputs":
        """The subject's fields out of a call's keyword ``arguments`` (removed from them)."""
        return cls(**{f.name: arguments.pop(f.name) for f in fields(cls) if f.name in arguments})

    def build(self, device: str = "cpu", allow_pickle: bool = False,
              profile: str | Profile = "roentgen2022") -> Subject:
        if self.images is not None and self.text_encoder is not None:
            raise InputError("score one subject at a time: --images (an image set) or --text-encoder (with --reports)")
        if self.text_encoder is not None:
            return self._text_encoder_subject(device, allow_pickle)
        if self.images is None:
            raise InputError("score needs --images (a folder of generated images) or --text-encoder with --reports")
        return self._image_set_subject(device, allow_pickle, profile)

    def recorded(self, subject: Subject) -> dict[str, Any]:
        """How the folders were read, for the results' run settings."""
        if not isinstance(subject, ImageSetSubject):
            return {}
        return {"layout": self.layout, "reference_layout": self.reference_layout, "subset": self.subset,
                "allow_outside_paths": self.allow_outside_paths}

    def _text_encoder_subject(self, device: str, allow_pickle: bool) -> Subject:
        from ..models.text import TextEncoder, load_text_encoder

        if self.reports is None:
            raise InputError("--text-encoder needs --reports (a CSV of reports: prompt_id, text and CheXpert labels)")
        encoder = self.text_encoder
        if not isinstance(encoder, TextEncoder) and checkpoint_folders(encoder):
            raise InputError(f"{encoder} holds trainer checkpoints: score them all with score_checkpoints "
                             "(the command line does when --text-encoder names such a folder)")
        if not isinstance(encoder, TextEncoder):
            encoder = load_text_encoder(str(encoder), device=device, allow_pickle=allow_pickle)
        report_set = _prompt_set(self.reports)
        methods = self.extraction.split(",") if isinstance(self.extraction, str) else list(self.extraction or ())
        methods = [m.strip() for m in methods if m.strip()]
        for method in methods:
            encoder.check(method)
        return TextEncoderSubject(encoder, report_set, tuple(methods))

    def _image_set_subject(self, device: str, allow_pickle: bool, profile: str | Profile) -> Subject:
        if self.reference_layout is not None and self.reference is None:
            raise InputError("--reference-layout (reference_layout=) applies to --reference, which is not given")
        images = self.images if isinstance(self.images, ImageSet) else \
            ImageSet.from_folder(self.images, layout=self.layout, allow_outside_paths=self.allow_outside_paths)
        reference = self.reference if isinstance(self.reference, ImageSet) or self.reference is None else \
            ImageSet.from_folder(self.reference, layout=self.reference_layout,
                                 allow_outside_paths=self.allow_outside_paths)
        report_generator = None
        if self.report_generator is not None:
            from ..models.report import load_report_generator

            settings = get_profile(profile).settings_for("rrg").report_generator.to_dict()
            report_generator = load_report_generator(self.report_generator, settings, device=device,
                                                      allow_pickle=allow_pickle,
                                                      trust_remote_code=self.trust_remote_code)
        elif self.trust_remote_code:
            raise InputError("--trust-remote-code applies to --report-generator only")
        return ImageSetSubject(images, reference, _prompt_set(self.prompts), report_generator, subset=self.subset,
                               reference_prompts=_prompt_set(self.reference_prompts))


def _prompt_set(value: str | Path | PromptSet | None) -> PromptSet | None:
    return value if isinstance(value, PromptSet) or value is None else PromptSet.from_csv(value)


def build_subject(*args: Any, device: str = "cpu", allow_pickle: bool = False,
                  profile: str | Profile = "roentgen2022", **inputs: Any) -> Subject:
    """The subject the arguments of `score` describe (`SubjectInputs`: images, reference, prompts, ... in
    that order)."""
    return SubjectInputs(*args, **inputs).build(device, allow_pickle, profile)


@dataclass
class ScoreRun:
    """Everything of a `score` call but its subject: the metrics, the profile, where the results go, and
    how the run executes (`RunOptions`, none of which changes a number)."""

    metrics: str | Sequence[str] | None = None
    profile: str | Profile = "roentgen2022"
    out: str | Path | None = None
    model_name: str | None = None
    cache_dir: str | Path | None = None
    use_cache: bool = True
    by: str | Sequence[str] | None = None
    options: RunOptions = field(default_factory=RunOptions)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> "ScoreRun":
        """From `score`'s keyword arguments (those of the subject taken out): run fields here, the rest
        `RunOptions` fields; anything else is a TypeError, as for a function."""
        mine = {f.name for f in fields(cls)} - {"options"}
        theirs = {f.name for f in fields(RunOptions)}
        unknown = set(kwargs) - mine - theirs
        if unknown:
            raise TypeError(f"unexpected keyword argument(s) {', '.join(sorted(unknown))}")
        options = {k: v for k, v in kwargs.items() if k in theirs}
        if options.get("log") is None:
            options.pop("log", None)
        options["weights"] = dict(options.get("weights") or {})
        return cls(**{k: v for k, v in kwargs.items() if k in mine}, options=RunOptions(**options))

    def check(self, out_is_folder: bool = False) -> None:
        """The arguments refused before any image is read (`checks.check_run_arguments`)."""
        o = self.options
        check_run_arguments(out=self.out, device=o.device, metrics=self.metrics, profile=self.profile,
                            batch_size=o.batch_size, workers=o.workers, bootstrap=o.bootstrap,
                            out_is_folder=out_is_folder)

    def on(self, subject: Subject, out: str | Path | None = None,
           recorded: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Score ``subject`` (to ``out`` when given, else the run's own); ``recorded``: how its inputs were
        read (the results' run settings)."""
        metrics, settings = self.metrics, dict(recorded or {})
        if metrics is None:
            if not isinstance(subject, ImageSetSubject):
                raise InputError("name the metrics to compute for a text encoder (--metrics)")
            metrics, skipped = runnable_defaults(subject, get_profile(self.profile), DEFAULT_METRICS,
                                                 self.options.weights)
            if skipped:
                settings["skipped"] = skipped
        options = replace(self.options, by=parse_by(self.by, subject), settings=settings)
        return evaluate(subject, metrics, self.profile, out=self.out if out is None else out,
                        model_name=self.model_name, cache=Cache(self.cache_dir, enabled=self.use_cache),
                        options=options)


def parse_by(by: str | Sequence[str] | None, subject: Subject) -> tuple[str, ...]:
    """--by's attributes, checked against the prompts before any work (a column the CSV lacks is named)."""
    if not by:
        return ()
    attributes = tuple(a.strip() for a in (by.split(",") if isinstance(by, str) else by) if a.strip())
    if not isinstance(subject, ImageSetSubject):
        raise InputError("--by groups the images of an image set by their prompts' attributes; this run scores "
                         f"{subject.summary()}")
    if subject.prompts is None:
        raise InputError("--by reads each prompt's group from the prompts CSV: give --prompts with the attribute "
                         "columns (sex, age, race, view, CheXpert labels)")
    from ..data.subgroups import groups_of

    for attribute in attributes:
        groups_of(subject.prompts, attribute, {})  # raises naming the columns there are
    return attributes


# --- the Python surface ------------------------------------------------------------------------------

def score(images: str | Path | ImageSet | None = None, reference: str | Path | ImageSet | None = None,
          prompts: str | Path | PromptSet | None = None, metrics: str | Sequence[str] | None = None,
          profile: str | Profile = "roentgen2022", weights: Mapping[str, str] | None = None,
          out: str | Path | None = None, model_name: str | None = None, cache_dir: str | Path | None = None,
          use_cache: bool = True, device: str = "cpu", batch_size: int = 32, workers: int | None = None,
          allow_pickle: bool = False, strict: bool = False, bootstrap: int = 0, bootstrap_seed: int = 0,
          log: Callable[[str], None] | None = None, progress: bool = False, text_encoder: Any = None,
          reports: str | Path | PromptSet | None = None,
          extraction: str | Sequence[str] | None = None, report_generator: Any = None,
          trust_remote_code: bool = False, layout: str | None = None, reference_layout: str | None = None,
          subset: bool = False, allow_outside_paths: bool = False,
          reference_prompts: str | Path | PromptSet | None = None,
          by: str | Sequence[str] | None = None) -> dict[str, Any]:
    """Score an image set (``images``, with ``reference`` and ``prompts``; ``report_generator`` for rrg)
    or a text encoder (``text_encoder`` with ``reports``); see `evaluate`. ``progress=True`` shows
    progress on stderr.

    ``layout`` (and ``reference_layout``): "roentgen", "one-per-file" or "manifest" forces how a folder
    is read; None applies the rule of `cxrgen_bench.data.manifest`. ``subset=True`` scores only the
    prompts both the images and ``prompts`` hold (otherwise any difference is an error naming the ids)
    and records what was left out; ``allow_outside_paths=True`` accepts manifest paths outside the
    image folder (recorded). ``reference_prompts``: a CSV of the reference images' own prompts and labels,
    for reference images without a generated counterpart (retrieval's candidates). ``by``: attributes of
    the prompts ("sex,age_band,race,view,finding" or a column name) to compute every metric per group of,
    with the gap between the best and the worst group (`scoring.subgroups`). The arguments are checked
    before any image is read, as on the command line (`checks.check_run_arguments`)."""
    arguments = dict(locals())  # every parameter goes, once, into one of the two objects
    inputs = SubjectInputs.take(arguments)
    run = ScoreRun.from_kwargs(**arguments)
    run.check()
    subject = inputs.build(device, allow_pickle, profile)
    return run.on(subject, recorded=inputs.recorded(subject))


def score_reports(hypotheses: str | Path, references: str | Path, metrics: str | Sequence[str] = "rrg",
                  **kwargs: Any) -> dict[str, Any]:
    """Score generated reports against references (CSV files with an id and a text column), no images:
    the rrg scorers for report-generation researchers. Keyword arguments as for `score`."""
    from ..evaluation.subjects import ReportPairsSubject, ReportTable

    run = ScoreRun.from_kwargs(metrics=metrics, **kwargs)
    run.check()
    subject = ReportPairsSubject(ReportTable.from_csv(hypotheses, "hypotheses"),
                                 ReportTable.from_csv(references, "references"))
    return run.on(subject)


def generate_then_score(generator: str, model: str | None, prompts: str | Path, images: str | Path,
                        generation: Mapping[str, Any] | None = None, progress: bool = False,
                        **score_kwargs: Any) -> dict[str, Any] | None:
    """Generate ``images`` with a registered generator (resumable, sharded across processes), then
    score them, the features sharded the same way; rank 0 returns the results, other ranks None. The
    results record the generator from the folder's generation.json."""
    from ..generation import generate

    arguments = dict(score_kwargs)
    SubjectInputs.take(arguments)
    ScoreRun.from_kwargs(**arguments).check()  # before generating: a bad flag must not cost the generation first
    summary = generate(generator=generator, model=model, prompts=prompts, out=images,
                       profile=score_kwargs.get("profile", "roentgen2022"), progress=progress, **dict(generation or {}))
    # every rank scores: each computes its share of the features, rank 0 writes the results (None elsewhere)
    return score(images=images, prompts=prompts, progress=progress and summary["rank"] == 0, **score_kwargs)


def checkpoint_folders(folder: str | Path) -> list[Path]:
    """The kept checkpoints of a reference-trainer run that hold a text encoder, by step: ``folder`` is
    the run's checkpoints/ folder (or the run folder that contains it); [] when it is neither."""
    from ..training import checkpoints

    folder = Path(folder)
    if not folder.is_dir():
        return []
    if not any(folder.glob("checkpoint-*")) and (folder / "checkpoints").is_dir():
        folder = folder / "checkpoints"
    return [c for c in checkpoints(folder) if (c / "text_encoder").is_dir()]


def score_checkpoints(text_encoder: str | Path, reports: str | Path | PromptSet, metrics: str | Sequence[str],
                      out: str | Path | None = None, extraction: str | Sequence[str] | None = None,
                      **score_kwargs: Any) -> list[dict[str, Any]]:
    """Score the text encoder of every kept checkpoint of a training run (the knowledge gained or
    forgotten over training, RoentGen Table 6); one results object per checkpoint, written to
    OUT/step-NNNNNNN.json when ``out`` (a folder) is given. Boards draw them as curves over steps."""
    from ..models.text.hf import DiffusersTextEncoder
    from ..training import step_of

    run = ScoreRun.from_kwargs(metrics=metrics, out=out, **score_kwargs)
    run.check(out_is_folder=True)
    found = checkpoint_folders(text_encoder)
    if not found:
        raise InputError(f"{text_encoder}: no trainer checkpoints with a text encoder (checkpoint-N/text_encoder)")
    report_set = _prompt_set(reports)
    results = []
    for folder in found:
        encoder = DiffusersTextEncoder(folder, device=run.options.device, allow_pickle=run.options.allow_pickle)
        subject = build_subject(text_encoder=encoder, reports=report_set, extraction=extraction)
        subject.run, subject.step = str(folder.parent), step_of(folder)
        target = Path(out) / f"step-{subject.step:07d}.json" if out is not None else None
        results.append(run.on(subject, out=target))
    return results
