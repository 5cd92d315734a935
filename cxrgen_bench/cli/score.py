"""`cxrgen-bench score`: an image set (or a text encoder with a report set) under a profile → one
results file. `--json` prints exactly what `cxrgen_bench.score(...)` returns."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from ..data.manifest import LAYOUTS
from ..errors import InputError
from ..flags import non_negative_int, parse_weights, positive_int
from ..results.store import profile_label
from ..registry import find_card
from .common import add_generation_flags, add_set_flag, curve_table, generation_settings, log, profile_of
from ..results.entry import Entry, GroupValue, ResultView, SubgroupView

HELP = "score a folder of generated images (or generate it first with --generator), or a text encoder"


def add_arguments(p: argparse.ArgumentParser) -> None:
    subject = p.add_argument_group("what is scored (an image set, or a text encoder with a report set)")
    subject.add_argument("--images", help="folder of generated images (manifest.csv inside, or {id}_{k}.png names); "
                                          "with --generator, where to generate them")
    subject.add_argument("--reference", help="folder of real images (needed by fid and the filtered classifier AUROC)")
    subject.add_argument("--prompts", help="prompts CSV: prompt_id, text and CheXpert label columns; its prompt ids "
                                           "and the images' must be the same (see --subset)")
    subject.add_argument("--by", help="compute every metric per group of patients too, with the gap between the best "
                                      "and the worst group: comma-separated sex, age_band, race, finding, or any "
                                      "column of --prompts (e.g. view); groups from the prompts CSV's columns")
    subject.add_argument("--reference-prompts", help="CSV of the reference images' own prompts (prompt_id, text, "
                                                     "labels), for reference images without a generated counterpart: "
                                                     "retrieval's candidates")
    subject.add_argument("--layout", choices=LAYOUTS, help="how --images is read: roentgen ({prompt_id}_{k} files), "
                                                         "one-per-file (each file one prompt) or manifest "
                                                         "(manifest.csv); default: manifest.csv if present, else "
                                                         "roentgen when any file is named {prompt_id}_0")
    subject.add_argument("--reference-layout", choices=LAYOUTS, help="the same for --reference")
    subject.add_argument("--subset", action="store_true",
                         help="score only the prompts both --images and --prompts hold (without it, an image "
                              "whose prompt id is not in --prompts, or a prompt without images, is an error); "
                              "the results record the counts and the ids left out")
    subject.add_argument("--allow-outside-paths", action="store_true",
                         help="accept manifest paths outside the image folder (absolute, or ../); recorded")
    subject.add_argument("--report-generator", help="(with --images and --prompts, for rrg) a report generator that "
                                                    "reads the images: a transformers image-to-text folder, or "
                                                    "KIND:LOCATION (cxrgen-bench ls report_generators)")
    subject.add_argument("--trust-remote-code", action="store_true",
                         help="let a transformers report generator run code shipped in its folder (recorded)")
    subject.add_argument("--text-encoder", help="a text encoder: a diffusers pipeline folder (its text_encoder), a "
                                                "transformers encoder folder, KIND:LOCATION (cxrgen-bench ls "
                                                "text_encoders), bow, or a trainer's checkpoints/ folder (every "
                                                "checkpoint: a curve; --out is then a folder)")
    subject.add_argument("--reports", help="(with --text-encoder) CSV of reports: prompt_id, text, CheXpert labels")
    subject.add_argument("--extraction", help="(with --text-encoder) comma-separated: cls, mean, pooler, model-specific")
    p.add_argument("--metrics", help="comma-separated metrics (default for images: fid,ms_ssim,classifier_auroc); "
                                     "restrict FID backbones with fid[inception-v3-fid+xrv-densenet121]")
    p.add_argument("--profile", default="roentgen2022", help="profile name or YAML file (default: roentgen2022)")
    add_set_flag(p)
    p.add_argument("--weights", action="append", default=[], metavar="BACKBONE=PATH",
                   help="weights file for a backbone (repeatable); otherwise $CXRGEN_WEIGHTS and library caches")
    p.add_argument("--allow-pickle", action="store_true",
                   help="allow weights files that need unpickling/TorchScript even if their sha256 is not the published one")
    p.add_argument("--out", help="write the results JSON to this file (atomically, after validation); rrg also writes "
                                 "the generated reports beside it (--out rrg.json: rrg.reports.csv)")
    p.add_argument("--json", action="store_true", help="print the results object as JSON")
    p.add_argument("--name", help="model name for the results file (default: the image folder's name)")
    p.add_argument("--cache-dir", help="feature/statistics cache (default: $CXRGEN_CACHE or ~/.cache/cxrgen-bench)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--device", default="cpu", help="torch device for the models (cpu, cuda, cuda:1, ...)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="images per forward pass")
    p.add_argument("--workers", type=positive_int, default=None, help="threads decoding/resizing images")
    p.add_argument("--strict", action="store_true", help="stop at the first failing metric (write nothing)")
    p.add_argument("--bootstrap", type=non_negative_int, default=0, metavar="N",
                   help="prompt-level bootstrap resamples for 95%% CIs (e.g. 1000; 0: none)")
    p.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the bootstrap (same seed → paired comparisons)")
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    add_generation_flags(p, for_score=True)


def run(args: argparse.Namespace) -> int:
    from ..scoring.runner import checkpoint_folders, generate_then_score, score

    kwargs: dict[str, Any] = dict(
        reference=args.reference, metrics=args.metrics, profile=profile_of(args), weights=parse_weights(args.weights),
        out=args.out, model_name=args.name, cache_dir=args.cache_dir, use_cache=not args.no_cache,
        device=args.device, batch_size=args.batch_size, workers=args.workers, allow_pickle=args.allow_pickle,
        strict=args.strict, bootstrap=args.bootstrap, bootstrap_seed=args.bootstrap_seed,
        log=None if args.quiet else log, report_generator=args.report_generator,
        trust_remote_code=args.trust_remote_code, layout=args.layout, reference_layout=args.reference_layout,
        subset=args.subset, allow_outside_paths=args.allow_outside_paths, reference_prompts=args.reference_prompts,
        by=args.by)
    progress = not (args.quiet or args.json)
    checkpoints = bool(args.text_encoder and checkpoint_folders(args.text_encoder))
    # the flags are checked before any work by the Python call each branch makes (checks.check_run_arguments)
    if args.generator:
        if not args.prompts or not args.images:
            raise InputError("score --generator needs --prompts and --images (where to generate)")
        # --device, --batch-size and --allow-pickle serve both the generator and the scoring backbones
        result = generate_then_score(args.generator, args.model, args.prompts, args.images,
                                     generation=generation_settings(args), progress=progress, **kwargs)
    elif checkpoints:
        return _run_checkpoints(args, kwargs, progress)
    else:
        result = score(images=args.images, prompts=args.prompts, text_encoder=args.text_encoder,
                       reports=args.reports, extraction=args.extraction, progress=progress, **kwargs)
    return show(args, result)


def show(args: argparse.Namespace, result: dict[str, Any] | None) -> int:
    """Print one results object (JSON with --json, else the summary); exit status 1 when partial. None: a
    process of a torchrun job other than rank 0, which writes the results."""
    if result is None:
        log("this process's share is done; rank 0 computes the metrics and writes the results")
        return 0
    if args.json:
        from ..results.store import dumps

        sys.stdout.write(dumps(result))
    else:
        print(format_summary(result))
        if args.out:
            written = [args.out, *result["run"].get("artifacts", {}).values()]
            print(f"results written to {', '.join(written)}")
    return 1 if result["status"] == "partial" else 0


def _run_checkpoints(args: argparse.Namespace, kwargs: dict[str, Any], progress: bool) -> int:
    """Every checkpoint of a run: one results file each in --out (a folder), a table of the curve."""
    import json

    from ..scoring.runner import score_checkpoints

    if args.reference or args.images:
        raise InputError("--text-encoder with trainer checkpoints scores text only: drop --images/--reference")
    if kwargs.pop("report_generator") or kwargs.pop("trust_remote_code"):
        raise InputError("--report-generator reads images: it does not apply to text-encoder checkpoints")
    kwargs.pop("reference")
    image_flags = [flag for flag in ("layout", "reference_layout", "subset", "allow_outside_paths", "reference_prompts",
                                     "by")
                   if kwargs.pop(flag)]
    if image_flags:
        raise InputError(f"--{image_flags[0].replace('_', '-')} reads image folders: it does not apply to "
                         "text-encoder checkpoints")
    results = score_checkpoints(args.text_encoder, args.reports, kwargs.pop("metrics"), out=kwargs.pop("out"),
                                extraction=args.extraction, progress=progress, **kwargs)
    if any(r is None for r in results):  # a torchrun process other than rank 0
        return show(args, None)
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        print(curve_table(results))
        if args.out:
            print(f"results written to {args.out}/step-*.json")
    return 1 if any(r["status"] == "partial" for r in results) else 0


def subgroup_line(attribute: str, view: SubgroupView) -> str:
    """"by sex: female 23.1 (n=24), male 30.2 (n=24); gap 7.1 [2.0, 12.3], worst male"."""
    def cell(group: str, row: GroupValue) -> str:
        if row.value is not None and row.excess is not None:
            lo, hi = row.excess_ci
            return (f"{group} {row.value:.4g} (n={row.n}; at n={row.floor_n} {row.at_floor_n:.4g} vs real "
                    f"{row.floor:.4g}: excess {row.excess:+.4g} [{lo:+.4g}, {hi:+.4g}])")
        if row.value is not None:
            return f"{group} {row.value:.4g} (n={row.n})"
        return f"{group} {row.why_none(view.min_size)} (n={row.n})"
    gap = view.gap
    said = view.why_no_gap() if gap.value is None else f"gap {gap.value:.4g}" + (
        f" [{gap.ci[0]:.4g}, {gap.ci[1]:.4g}]" if gap.ci else "") + (
        " in excess over floor" if gap.basis == "excess over floor" else "") + f", worst {view.worst}"
    matched = f"; matched n={view.matched_n}" if view.matched_n else ""
    return f"by {attribute}: " + ", ".join(cell(g, r) for g, r in view.groups.items()) + f"; {said}{matched}"


def _entry_lines(key: str, entry: Entry, unavailable: dict[str, Any]) -> list[str]:
    """A results key as the terminal shows it: value ± std, CI and n; or why it has none; its notes and groups."""
    card = find_card(key)
    arrow = {"lower": "↓", "higher": "↑"}.get(card.direction if card else "", "?")
    if entry.error:
        needs = [m for m in unavailable if repr(m) in entry.error or entry.backbone == m]
        said = f"needs {needs[0]}, unavailable (below)" if needs else entry.error.splitlines()[0]
        return [f"  {key:32s} {arrow}  ERROR: {said}"]
    if entry.value is None:
        return [f"  {key:32s} {arrow}  undefined: {entry.undefined or 'no value'}"]
    std = f" ± {entry.std:.4f}" if entry.std is not None else ""
    ci = f"  95% CI [{entry.ci95[0]:.4f}, {entry.ci95[1]:.4f}]" if entry.ci95 else ""
    n = entry.n.effective if entry.n is not None else "?"
    lines = [f"  {key:32s} {arrow}  {entry.value:.4f}{std}{ci}   (n={n})"]
    lines += [f"      note: {warning}" for warning in entry.warnings]
    lines += ["      " + subgroup_line(attribute, view) for attribute, view in entry.subgroups.items()]
    return lines


def format_summary(result: dict[str, Any]) -> str:
    lines = [f"{result['model']['name']}  (profile {profile_label(result['profile'])}, "
             f"status {result['status']})"]
    unavailable = result["run"].get("unavailable_models") or {}
    subset = (result.get("subject") or {}).get("subset")
    if subset:
        dropped = subset["dropped"]
        gone = dropped["prompts_without_images"] + dropped["image_prompt_ids_not_in_prompts"]
        lines.append(f"  --subset: {subset['effective']['prompts']} of {subset['requested']['prompts']} prompts scored"
                     + (f"; left out: {', '.join(gone[:10])}{' …' if len(gone) > 10 else ''}" if gone else ""))
    for key, entry in sorted(ResultView.of(result).entries.items()):
        lines += _entry_lines(key, entry, unavailable)
    if unavailable:
        lines.append("unavailable models (each named once; the metrics above that need them were not computed):")
        for name, info in unavailable.items():
            files = info.get("accepted") or []
            how = (f"put {' or '.join(files)} in $CXRGEN_WEIGHTS, or pass --weights {name}=PATH" if files
                   else info["message"].splitlines()[0])
            lines.append(f"  {name}: {how}")
        lines.append(f"  what each metric needs, and where to fetch it: cxrgen-bench weights status "
                     f"--profile {result['profile']['name']}")
    skipped = result["run"].get("settings", {}).get("skipped") or {}
    if skipped:  # `score` without --metrics: the default metrics these inputs cannot run
        lines.append("skipped (default metrics these inputs or models cannot run; name them with --metrics):")
        lines += [f"  {key}: {why}" for key, why in skipped.items()]
    return "\n".join(lines)
