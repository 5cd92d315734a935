"""`cxrgen-bench demo`: the calibration benchmark with known answers, offline (the README's main job)."""
from __future__ import annotations

import argparse

from ..flags import non_negative_int, positive_int
from .common import check_out

HELP = "the calibration benchmark with known answers, offline (the README's main job)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="cxrgen-demo", help="folder for images, results and the leaderboard")
    p.add_argument("--prompts", type=positive_int, default=48, help="phantom prompts (4 samples each per stand-in)")
    p.add_argument("--bootstrap", type=non_negative_int, default=200, help="bootstrap resamples for the CIs")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument("--keep-cache", action=argparse.BooleanOptionalAction, default=True,
                   help="keep the feature and image caches in OUT (a re-run reuses them; default) or remove them "
                        "at the end (--no-keep-cache, also --no-cache)")
    p.add_argument("--no-cache", dest="keep_cache", action="store_false",
                   help="the same as --no-keep-cache (the name score takes)")


def run(args: argparse.Namespace) -> int:
    from ..demo import run as run_demo

    check_out(args.out, folder=True)
    result = run_demo(args.out, prompts=args.prompts, bootstrap=args.bootstrap, log=print, progress=not args.quiet,
                      keep_cache=args.keep_cache)
    incomplete = result.incomplete()
    if incomplete:
        print(f"not complete (see their results' errors): {', '.join(incomplete)}")
    return 1 if incomplete else 0
