"""`cxrgen-bench meta`: the meta-evaluation (which fidelity/diversity metric to trust), measured on the
calibration benchmark; `--docs` rewrites docs/metric-validity.md from the numbers."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..flags import parse_weights, positive_int

HELP = "measure which metric to trust: known answers, graded corruptions, sample size (calibration benchmark)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="cxrgen-meta", help="folder for meta.json and meta.md")
    p.add_argument("--results", help="a demo's results folder (cxrgen-demo/results): adds the known-answer view")
    p.add_argument("--n", type=positive_int, default=96, help="images per half (reference, held out)")
    p.add_argument("--images", help="a folder of real radiographs: the corruption and sample-size views on them "
                                    "(sorted files alternate between the halves) instead of on phantoms")
    p.add_argument("--profile", help="profile of the backbones (default: calibration-phantom; roentgen2022 with --images)")
    p.add_argument("--backbones", help="comma-separated backbones of the profile (default: phantom-evaluator; "
                                       "inception-v3-fid with --images)")
    p.add_argument("--weights", action="append", default=[], metavar="BACKBONE=PATH",
                   help="weights file for a backbone (repeatable); otherwise $CXRGEN_WEIGHTS and library caches")
    p.add_argument("--docs", help="also write this Markdown file (docs/metric-validity.md)")


def run(args: argparse.Namespace) -> int:
    from ..distributed import world
    from ..meta import run as run_meta
    from ..results.store import read_result
    from .common import log

    here = world()
    if not here.root:  # under torchrun: its views are small sweeps on a few hundred images, not worth a split
        log(f"meta runs on rank 0 alone (this process is {here}); rank 0 writes {Path(args.out) / 'meta.md'}")
        return 0

    results = {p.stem: read_result(p) for p in sorted(Path(args.results).glob("*.json"))} if args.results else None
    real = args.images is not None
    backbones = args.backbones or ("inception-v3-fid" if real else "phantom-evaluator")
    report = run_meta(args.out, results=results, n=args.n, backbones=[b for b in backbones.split(",") if b],
                      images=args.images, profile=args.profile or ("roentgen2022" if real else "calibration-phantom"),
                      weights=parse_weights(args.weights))
    text = (Path(args.out) / "meta.md").read_text(encoding="utf-8")
    if args.docs:
        from ..files import atomic_write_text

        atomic_write_text(Path(args.docs), text)
    print(text if len(text) < 6000 else f"written: {Path(args.out) / 'meta.md'}")
    return 0 if report else 1
