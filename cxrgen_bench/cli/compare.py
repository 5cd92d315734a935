"""`cxrgen-bench compare A B`: paired differences of two results with 95% CIs and p-values."""
from __future__ import annotations

import argparse
import json

HELP = "paired differences of two results with 95%% CIs and p-values"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", help="results file of the first run (the baseline: differences are b − a)")
    p.add_argument("b", help="results file of the second run, scored on the same prompts (paired by prompt)")
    p.add_argument("--json", action="store_true", help="print the comparison rows as JSON")


def run(args: argparse.Namespace) -> int:
    from ..compare import compare
    from ..results.store import read_result

    rows = compare(read_result(args.a), read_result(args.b))
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        return 0

    def f(v: float | None) -> str:
        return "—" if v is None else f"{v:.4g}"

    print(f"{'metric':30s} {'a':>10s} {'b':>10s} {'b − a':>10s} {'95% CI':>22s} {'p':>7s}")
    for r in rows:
        ci = f"[{f(r.ci95[0])}, {f(r.ci95[1])}]" if r.ci95 else "—"
        print(f"{r.key:30s} {f(r.a):>10s} {f(r.b):>10s} {f(r.difference):>10s} {ci:>22s} {f(r.p_value):>7s}"
              + (f"  ({r.note})" if r.note else ""))
    return 0
