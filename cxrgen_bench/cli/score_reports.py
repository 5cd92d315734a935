"""`cxrgen-bench score-reports`: generated reports against references, text only — the rrg scorers
for report-generation researchers (and for re-scoring stored reports with other scorers)."""
from __future__ import annotations

import argparse

from ..flags import non_negative_int, parse_weights
from .common import add_set_flag, log, profile_of
from .score import show

HELP = "score generated reports against reference reports (BLEU-4, ROUGE-L, BERTScore, F1-CheXbert, ...)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hypotheses", required=True, help="CSV of generated reports: an id column (prompt_id or id) "
                                                       "and a text column (text, report or impression)")
    p.add_argument("--references", required=True, help="CSV of reference reports with the same ids")
    p.add_argument("--metrics", default="rrg", help='default rrg (the profile\'s scorers); e.g. "rrg[bleu4+rouge_l]"')
    p.add_argument("--profile", default="roentgen2022", help="profile name or YAML file (default: roentgen2022)")
    add_set_flag(p)
    p.add_argument("--weights", action="append", default=[], metavar="MODEL=PATH",
                   help="model folders: bertscore=FOLDER, chexbert=FOLDER (repeatable)")
    p.add_argument("--allow-pickle", action="store_true", help="allow pickled model files")
    p.add_argument("--out", help="write the results JSON here")
    p.add_argument("--json", action="store_true", help="print the results object as JSON")
    p.add_argument("--name", help="name for the results file (default: the hypotheses file's name)")
    p.add_argument("--cache-dir", help="cache of labels and scores (default: $CXRGEN_CACHE or ~/.cache/cxrgen-bench)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--device", default="cpu", help="torch device for the scorers' models (cpu, cuda, cuda:1, ...)")
    p.add_argument("--bootstrap", type=non_negative_int, default=0, metavar="N",
                   help="report-level bootstrap resamples for CIs")
    p.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the bootstrap (same seed → paired comparisons)")
    p.add_argument("--strict", action="store_true", help="stop at the first failing scorer (write nothing)")
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")


def run(args: argparse.Namespace) -> int:
    from ..scoring.runner import score_reports

    # score_reports checks the flags before any work (checks.check_run_arguments)
    result = score_reports(args.hypotheses, args.references, args.metrics, profile=profile_of(args),
                           weights=parse_weights(args.weights), out=args.out, model_name=args.name,
                           cache_dir=args.cache_dir, use_cache=not args.no_cache, device=args.device,
                           allow_pickle=args.allow_pickle, strict=args.strict, bootstrap=args.bootstrap,
                           bootstrap_seed=args.bootstrap_seed, log=None if args.quiet else log,
                           progress=not (args.quiet or args.json))
    return show(args, result)
