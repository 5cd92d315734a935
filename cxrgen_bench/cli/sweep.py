"""`cxrgen-bench sweep`: every checkpoint of a training run (or every pipeline listed) generated and scored
as the resumable units of a study (`cxrgen_bench.studies.sweep`); then, in OUT: one results file per
checkpoint in a leaderboard store (OUT/entries/), the board with the curves over training steps, and the
gate between the last and the best checkpoint (OUT/gate.json). Re-running the same command resumes."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..files import atomic_write_text
from ..flags import non_negative_int, parse_weights, positive_int
from .common import add_generation_flags, add_set_flag, curve_table, generation_settings, profile_of
from ..results.entry import ResultView

HELP = "generate and score every checkpoint of a training run (or pipelines): curves, board, gate (resumable)"
DEFAULT_METRICS = "fid,ms_ssim,classifier_auroc,chexpert_at_k"
SCORING_FLAGS = ("device", "batch_size", "allow_pickle")  # shared by generation and scoring: run options


def add_arguments(p: argparse.ArgumentParser) -> None:
    what = p.add_argument_group("what is swept (one of)").add_mutually_exclusive_group(required=True)
    what.add_argument("--run", help="a reference-trainer run folder (or its checkpoints/): every kept checkpoint "
                                    "(train with --keep-checkpoints 0 to keep them all)")
    what.add_argument("--pipelines", nargs="+", metavar="FOLDER",
                      help="diffusers pipeline folders, in the order of the curve (a step is read from names "
                           "checkpoint-N / step-N or the folder's training.json)")
    p.add_argument("--prompts", required=True, help="prompts CSV (prompt_id, text, CheXpert labels) generated for "
                                                    "every checkpoint, e.g. the p19 prompts")
    p.add_argument("--reference", required=True, help="folder of real images for the prompts (fid, classifier AUROC)")
    p.add_argument("--reports", help="reports CSV for the text-encoder metrics (chexpert_at_k); default: --prompts")
    p.add_argument("--metrics", default=DEFAULT_METRICS,
                   help=f"comma-separated metrics (default: {DEFAULT_METRICS}); text-encoder metrics are computed "
                        "on each checkpoint's text encoder, the others on its images")
    p.add_argument("--extraction", help="(chexpert_at_k) comma-separated: cls, mean, pooler, model-specific")
    p.add_argument("--profile", default="roentgen2022", help="profile name or YAML file (default: roentgen2022)")
    add_set_flag(p)
    p.add_argument("--out", required=True, help="the sweep's folder (resumable: re-run the same command)")
    p.add_argument("--best-by", help="results key that picks the best checkpoint, e.g. fid[xrv-densenet121] "
                                     "(default: the first key of the first metric)")
    p.add_argument("--rules", help="gate rules YAML for last vs best (see cxrgen_bench/gate.py); default: any "
                                   "worsening fails")
    p.add_argument("--bootstrap", type=non_negative_int, default=0, metavar="N",
                   help="prompt-level bootstrap resamples for 95%% CIs, the bands of the curves (0: none)")
    p.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the bootstrap (the same for every checkpoint)")
    p.add_argument("--weights", action="append", default=[], metavar="BACKBONE=PATH",
                   help="weights file for a backbone (repeatable); otherwise $CXRGEN_WEIGHTS and library caches")
    p.add_argument("--allow-pickle", action="store_true", help="accept pickle weights (pipelines and backbones)")
    p.add_argument("--cache-dir", help="feature cache (default: $CXRGEN_CACHE or ~/.cache/cxrgen-bench); shared by "
                                       "the processes, so the reference images are embedded once")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...; under torchrun / accelerate "
                                                   "launch, cuda means cuda:LOCAL_RANK)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="images per generator call and forward pass")
    p.add_argument("--workers", type=positive_int, default=None, help="threads decoding/resizing images")
    p.add_argument("--json", action="store_true", help="print the sweep's results object (OUT/results.json) as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    add_generation_flags(p, for_score=True, generator=False)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.context import RunOptions
    from ..gate import format_report, load_rules, run_gate
    from ..leaderboard.render import build
    from ..leaderboard.store import Store
    from ..results.store import dumps
    from ..studies import run_study
    from ..studies.sweep import SweepStudy, best_index
    from .common import check_out, log, process_device

    check_out(args.out, folder=True)
    rules = load_rules(args.rules)  # a bad rules file is said before the first checkpoint is generated
    quiet = args.quiet or args.json
    options = RunOptions(weights=parse_weights(args.weights), allow_pickle=args.allow_pickle,
                         device=process_device(args.device), batch_size=args.batch_size, workers=args.workers,
                         progress=not quiet, log=(lambda m: None) if args.quiet else log)
    generation = {k: v for k, v in generation_settings(args).items() if k not in SCORING_FLAGS}
    settings = {"run": args.run, "pipelines": args.pipelines, "prompts": args.prompts, "reference": args.reference,
                "reports": args.reports, "metrics": args.metrics, "extraction": args.extraction,
                "generation": generation, "bootstrap": args.bootstrap, "bootstrap_seed": args.bootstrap_seed,
                "best_by": args.best_by}
    study = SweepStudy(settings, profile_of(args), options, out=args.out, cache_dir=args.cache_dir)
    summary = run_study(study, args.out)
    if summary is None:
        log(f"this process's units are done; rank 0 writes {args.out}/results.json, the board and the gate")
        return 0
    units = study.results(args.out)
    store = Store(args.out)
    for unit, result in units:
        store.add(result, name=unit.id, replace=True)
    build(store.load(), args.out)
    results = [r for _, r in units]
    key = study.best_by(results)
    best = best_index(results, key)
    if best is None:  # a gate of the last unit against itself would pass whatever happened
        held = sorted({k for r in results for k, e in ResultView.of(r).entries.items() if e.value is not None})
        print(curve_table(results))
        log(f"no checkpoint has a value of {key}, so there is no best one to gate the last against; the results hold "
            f"{', '.join(held[:12]) or 'no value at all'}: choose one with --best-by (results: {args.out}/entries/)")
        return 1
    report = run_gate(results[best], results[-1], rules)
    gate = {"baseline": units[best][0].id, "candidate": units[-1][0].id, "best_by": key,
            **report.as_dict()}
    atomic_write_text(Path(args.out, "gate.json"), json.dumps(gate, indent=2, sort_keys=True) + "\n")
    if args.json:
        print(dumps(summary))
    else:
        print(curve_table(results))
        print(f"\nbest by {key}: {gate['baseline']}; last: {gate['candidate']}; gate (last against best):")
        print(format_report(report))
        print(f"results: {args.out}/entries/, board: {args.out}/README.md and index.html, gate: {args.out}/gate.json")
    partial = summary["status"] == "partial" or any(r["status"] == "partial" for r in results)
    return max(1 if partial else 0, report.exit_code)
