"""An evaluation run: subject + profile + metrics → one validated results object.

`score()` is the Python surface; `cxrgen-bench score` parses flags into exactly these arguments and
prints exactly what this returns. `evaluate()` runs any subject (image set, text encoder); studies
write the same results through `new_result`.
"""
from __future__ import annotations

import platform
import subprocess
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..cache import Cache
from ..data.manifest import ImageSet, PromptSet
from ..distributed import process_group
from ..errors import CxrgenError, InputError, ModelUnavailable
from ..profiles import Profile, get_profile
from ..registry import METRICS
from ..files import atomic_write_text
from ..models.weights import is_offline
from ..version import __version__
from ..results.store import SCHEMA_VERSION, to_json_safe, validate, write_result
from ..evaluation.context import EvaluationContext, RunOptions
from ..evaluation.subjects import ImageSetSubject, Subject, TextEncoderSubject
from .checks import check_run_arguments, parse_metric_specs

DEFAULT_METRICS = ("fid", "ms_ssim", "classifier_auroc")
RECORDED_PACKAGES = ("torch", "torchvision", "numpy", "scipy", "pillow", "torchxrayvision", "open_clip_torch",
                     "scikit-image", "safetensors", "transformers")


def environment() -> dict[str, Any]:
    packages = {}
    for name in RECORDED_PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {"cxrgen_bench": __version__, "git_hash": _git_hash(), "python": platform.python_version(),
            "packages": packages}


def _git_hash() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def new_result(subject: Subject, profile: Profile, metrics: dict[str, Any], weights: dict[str, Any],
               run: dict[str, Any], model_name: str | None = None,
               model: dict[str, Any] | None = None) -> dict[str, Any]:
    """The results object every evaluation writes (schema `results/schema-v2.json`)."""
    # a failed metric, or one whose value is undefined on these data, is not a complete result
    status = "partial" if any("error" in v or "undefined" in v for v in metrics.values()) else "complete"
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "measured",
        "status": status,
        "profile": profile.describe(),
        "model": {"name": model_name or subject.default_name(), **(subject.model() if model is None else model)},
        "subject": subject.describe(),
        **subject.inputs(),
        "metrics": metrics,
        "weights": weights,
        "environment": environment(),
        "run": run,
    }


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
    metrics_to_run = [(name, opts, METRICS.get(name)(prof.metrics.get(name, {}), opts)) for name, opts in specs]
    with process_group(options.device) as here:
        requests = []
        for _, _, metric in metrics_to_run:
            try:
                requests += metric.feature_requests(ctx)
            except CxrgenError:
                pass  # the metric meets it again in compute and records it in its own entry
        ctx.prefetch(requests)  # under torchrun: every rank's share, merged on rank 0
    if not here.root:
        return None  # type: ignore[return-value]  # rank 0 computes the metrics and writes the results
    values: dict[str, Any] = {}
    for name, opts, metric in metrics_to_run:
        configured = name in prof.metrics
        ctx.log(f"metric {name}[{'+'.join(opts)}]" if opts else f"metric {name}")
        try:
            entries = metric.compute(ctx)
        except Exception as exc:  # noqa: BLE001 — one failing metric (or plug-in bug) must not cost the others
            if options.strict or not isinstance(exc, (CxrgenError, ArithmeticError, ValueError, RuntimeError,
                                                      TypeError, KeyError, IndexError, AttributeError, OSError)):
                raise
            message = str(exc) if isinstance(exc, CxrgenError) else \
                f"{type(exc).__name__} in metric {name} ({METRICS.source(name)}): {exc}"
            ctx.log(f"metric {name} " + (exc.brief if isinstance(exc, ModelUnavailable) else f"failed: {message}"))
            entries = [metric.value(name, None, subject.n_units(), 0, error=message)]
        if options.by and isinstance(subject, ImageSetSubject) and "training_budget" not in metric.card.requires:
            from .subgroups import attach

            attach(metric, entries, ctx, options.by)
        for entry in entries:
            if entry.get("value") is None and not entry.get("error") and not entry.get("undefined"):
                # every null needs its reason: a metric that has none to give says so generically
                entry["undefined"] = f"{entry['key']} has no value on these data (its details say what was missing)"
            if entry.get("undefined"):
                ctx.log(f"{entry['key']} is undefined: {entry['undefined']}")
            if not configured:
                entry.setdefault("warnings", []).append(
                    f"profile {prof.name} does not configure {name}: the metric's built-in defaults were used")
            values[entry["key"]] = entry
    run = {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "duration_s": round(time.monotonic() - started, 3), "device": options.device, "world_size": here.size,
           "settings": {"metrics": [f"{n}[{'+'.join(o)}]" if o else n for n, o in specs],
                        "batch_size": options.batch_size, "use_cache": ctx.cache.enabled,
                        "allow_pickle": options.allow_pickle, "bootstrap": options.bootstrap,
                        "bootstrap_seed": options.bootstrap_seed, "offline": is_offline(), **options.settings,
                        **({"by": list(options.by), "subgroups": prof.subgroups} if options.by else {})}}
    from ..threads import chosen

    if chosen():  # how many threads computed it, and why (a timing read beside it needs this)
        run["threads"] = chosen()
    if ctx.unavailable:  # each model once, in full: the entries that needed it name it briefly
        run["unavailable_models"] = {name: {"message": u["message"], "accepted": u["accepted"]}
                                     for name, u in sorted(ctx.unavailable.items())}
    if out is not None and ctx.artifacts:
        run["artifacts"] = {name: str(Path(out).with_suffix(f".{name}")) for name in sorted(ctx.artifacts)}
    result = new_result(subject, prof, values, ctx.models_used(), run, model_name, model)
    if out is not None:
        write_result(result, out)  # validates, then writes atomically: no half-written file
        for name, text in ctx.artifacts.items():
            atomic_write_text(Path(out).with_suffix(f".{name}"), text)
    return validate(to_json_safe(result))


def build_subject(images: str | Path | ImageSet | None = None, reference: str | Path | ImageSet | None = None,
                  prompts: str | Path | PromptSet | None = None, text_encoder: Any = None,
                  reports: str | Path | PromptSet | None = None, extraction: str | Sequence[str] | None = None,
                  device: str = "cpu", allow_pickle: bool = False, report_generator: Any = None,
                  profile: str | Profile = "roentgen2022", trust_remote_code: bool = False,
                  layout: str | None = None, reference_layout: str | None = None, subset: bool = False,
                  allow_outside_paths: bool = False,
                  reference_prompts: str | Path | PromptSet | None = None) -> Subject:
    """The subject the arguments of `score` describe: an image set (read by a report generator for
    rrg), or a text encoder with reports. ``layout``/``reference_layout``, ``subset``,
    ``allow_outside_paths`` and ``reference_prompts``: see `score`."""
    if images is not None and text_encoder is not None:
        raise InputError("score one subject at a time: --images (an image set) or --text-encoder (with --reports)")
    if text_encoder is not None:
        from ..models.text import TextEncoder, load_text_encoder

        if reports is None:
            raise InputError("--text-encoder needs --reports (a CSV of reports: prompt_id, text and CheXpert labels)")
        if not isinstance(text_encoder, TextEncoder) and checkpoint_folders(text_encoder):
            raise InputError(f"{text_encoder} holds trainer checkpoints: score them all with score_checkpoints "
                             "(the command line does when --text-encoder names such a folder)")
        encoder = text_encoder if isinstance(text_encoder, TextEncoder) else \
            load_text_encoder(str(text_encoder), device=device, allow_pickle=allow_pickle)
        report_set = reports if isinstance(reports, PromptSet) else PromptSet.from_csv(reports)
        methods = extraction.split(",") if isinstance(extraction, str) else list(extraction or ())
        methods = [m.strip() for m in methods if m.strip()]
        for method in methods:
            encoder.check(method)
        return TextEncoderSubject(encoder, report_set, tuple(methods))
    if images is None:
        raise InputError("score needs --images (a folder of generated images) or --text-encoder with --reports")
    if reference_layout is not None and reference is None:
        raise InputError("--reference-layout (reference_layout=) applies to --reference, which is not given")
    image_set = images if isinstance(images, ImageSet) else \
        ImageSet.from_folder(images, layout=layout, allow_outside_paths=allow_outside_paths)
    ref_set = reference if isinstance(reference, ImageSet) or reference is None else \
        ImageSet.from_folder(reference, layout=reference_layout, allow_outside_paths=allow_outside_paths)
    prompt_set = prompts if isinstance(prompts, PromptSet) or prompts is None else PromptSet.from_csv(prompts)
    ref_prompts = reference_prompts if isinstance(reference_prompts, PromptSet) or reference_prompts is None else \
        PromptSet.from_csv(reference_prompts)
    reader = None
    if report_generator is not None:
        from ..models.report import load_report_generator

        settings = get_profile(profile).metrics.get("rrg", {}).get("report_generator", {})
        reader = load_report_generator(report_generator, settings, device=device, allow_pickle=allow_pickle,
                                       trust_remote_code=trust_remote_code)
    elif trust_remote_code:
        raise InputError("--trust-remote-code applies to --report-generator only")
    return ImageSetSubject(image_set, ref_set, prompt_set, reader, subset=subset, reference_prompts=ref_prompts)


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
    for reference images without a generated counterpart (retrieval's candidates). ``by``: attributes of the
    prompts ("sex,age_band,race,view,finding" or a column name) to compute every metric per group of,
    with the gap between the best and the worst group (`scoring.subgroups`). The arguments are checked before any image is read, as on the command
    line (`checks.check_run_arguments`)."""
    check_run_arguments(out=out, device=device, metrics=metrics, profile=profile, batch_size=batch_size,
                        workers=workers, bootstrap=bootstrap)
    subject = build_subject(images, reference, prompts, text_encoder, reports, extraction, device, allow_pickle,
                            report_generator, profile, trust_remote_code, layout, reference_layout, subset,
                            allow_outside_paths, reference_prompts)
    flags = {"layout": layout, "reference_layout": reference_layout, "subset": subset,
             "allow_outside_paths": allow_outside_paths} if isinstance(subject, ImageSetSubject) else {}
    attributes = parse_by(by, subject)
    return _score_subject(subject, metrics, profile=profile, weights=weights, out=out, model_name=model_name,
                          cache_dir=cache_dir, use_cache=use_cache, device=device, batch_size=batch_size,
                          workers=workers, allow_pickle=allow_pickle, strict=strict, bootstrap=bootstrap,
                          bootstrap_seed=bootstrap_seed, log=log, progress=progress, settings=flags, by=attributes)


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


def _score_subject(subject: Subject, metrics: str | Sequence[str] | None, profile: str | Profile = "roentgen2022",
                   weights: Mapping[str, str] | None = None, out: str | Path | None = None,
                   model_name: str | None = None, cache_dir: str | Path | None = None, use_cache: bool = True,
                   device: str = "cpu", batch_size: int = 32, workers: int | None = None, allow_pickle: bool = False,
                   strict: bool = False, bootstrap: int = 0, bootstrap_seed: int = 0,
                   log: Callable[[str], None] | None = None, progress: bool = False,
                   settings: Mapping[str, Any] | None = None, by: tuple[str, ...] = ()) -> dict[str, Any]:
    if metrics is None:
        if not isinstance(subject, ImageSetSubject):
            raise InputError("name the metrics to compute for a text encoder (--metrics)")
        metrics = DEFAULT_METRICS
    options = RunOptions(weights=dict(weights or {}), allow_pickle=allow_pickle, device=device,
                         batch_size=batch_size, workers=workers, strict=strict, bootstrap=bootstrap,
                         bootstrap_seed=bootstrap_seed, progress=progress, log=log or (lambda msg: None),
                         settings=dict(settings or {}), by=tuple(by))
    return evaluate(subject, metrics, profile, out=out, model_name=model_name,
                    cache=Cache(cache_dir, enabled=use_cache), options=options)


def score_reports(hypotheses: str | Path, references: str | Path, metrics: str | Sequence[str] = "rrg",
                  **kwargs: Any) -> dict[str, Any]:
    """Score generated reports against references (CSV files with an id and a text column), no images:
    the rrg scorers for report-generation researchers. Keyword arguments as for `score`."""
    from ..evaluation.subjects import ReportPairsSubject, ReportTable

    check_run_arguments(**{k: kwargs[k] for k in ("out", "device", "profile", "batch_size", "workers", "bootstrap")
                           if k in kwargs}, metrics=metrics)
    subject = ReportPairsSubject(ReportTable.from_csv(hypotheses, "hypotheses"),
                                 ReportTable.from_csv(references, "references"))
    return _score_subject(subject, metrics, **kwargs)


def generate_then_score(generator: str, model: str | None, prompts: str | Path, images: str | Path,
                        generation: Mapping[str, Any] | None = None, progress: bool = False,
                        **score_kwargs: Any) -> dict[str, Any] | None:
    """Generate ``images`` with a registered generator (resumable, sharded across processes), then
    score them, the features sharded the same way; rank 0 returns the results, other ranks None. The
    results record the generator from the folder's generation.json."""
    from ..generation import generate

    # before generating: a bad flag must not cost the generation run first
    check_run_arguments(**{k: score_kwargs[k] for k in ("out", "device", "metrics", "profile", "batch_size", "workers",
                                                       "bootstrap") if k in score_kwargs})
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

    check_run_arguments(out=out, metrics=metrics, out_is_folder=True,
                        **{k: score_kwargs[k] for k in ("device", "profile", "batch_size", "workers", "bootstrap")
                           if k in score_kwargs})
    found = checkpoint_folders(text_encoder)
    if not found:
        raise InputError(f"{text_encoder}: no trainer checkpoints with a text encoder (checkpoint-N/text_encoder)")
    report_set = reports if isinstance(reports, PromptSet) else PromptSet.from_csv(reports)
    device, allow_pickle = score_kwargs.get("device", "cpu"), score_kwargs.get("allow_pickle", False)
    results = []
    for folder in found:
        encoder = DiffusersTextEncoder(folder, device=device, allow_pickle=allow_pickle)
        subject = build_subject(text_encoder=encoder, reports=report_set, extraction=extraction)
        subject.run, subject.step = str(folder.parent), step_of(folder)
        target = Path(out) / f"step-{subject.step:07d}.json" if out is not None else None
        results.append(_score_subject(subject, metrics, out=target, **score_kwargs))
    return results
