"""`cxrgen-bench compare A B`: paired differences of two results with 95% CIs and p-values."""
from __future__ import annotations

import argparse
import json

from ..flags import non_negative_int

HELP = "paired differences of two results with 95%% CIs and p-values"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", help="results file of the first run (the baseline: differences are b − a)")
    p.add_argument("b", help="results file of the second run, scored on the same prompts (paired by prompt)")
    p.add_argument("--json", action="store_true", help="print the comparison rows as JSON")
    p.add_argument("--shuffles", type=non_negative_int, default=10000,
                   help="random swaps of the approximate-randomization test on per-item values (0: skip it)")
    p.add_argument("--seed", type=int, default=0, help="seed of the approximate-randomization test")
    p.add_argument("--allow-different-settings", action="store_true",
                   help="compare metrics even where the two runs were computed with other settings or profiles "
                        "(what differs is printed on top); without it such metrics are refused by name")


def run(args: argparse.Namespace) -> int:
    from ..compare import compare
    from ..results.store import read_result

    rows = compare(read_result(args.a), read_result(args.b), args.shuffles, args.seed, args.allow_different_settings)
    refused = [r for r in rows if r.settings_differ and r.difference is None]
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        return 1 if refused else 0
    differing = sorted({s for r in rows for s in r.settings_differ or ()})
    if differing:
        said = "compared although computed with other settings" if args.allow_different_settings else \
            "not compared, computed with other settings (--allow-different-settings compares them anyway)"
        print(f"{said}:\n" + "\n".join(f"  {s}" for s in differing) + "\n")

    def f(v: float | None) -> str:
        return "—" if v is None else f"{v:.4g}"

    print(f"{'metric':30s} {'a':>10s} {'b':>10s} {'b − a':>10s} {'better':>6s} {'95% CI':>22s} {'p boot':>7s} "
          f"{'p AR':>14s}")
    for r in rows:
        ci = f"[{f(r.ci95[0])}, {f(r.ci95[1])}]" if r.ci95 else "—"
        ar = "—" if r.ar_p_value is None else f"{r.ar_p_value:.3g}±{r.ar_mc_error:.1g}"
        print(f"{r.key:30s} {f(r.a):>10s} {f(r.b):>10s} {f(r.difference):>10s} {r.better or '—':>6s} {ci:>22s} "
              f"{f(r.p_value):>7s} {ar:>14s}" + (f"  ({r.note})" if r.note else ""))
    print("better: by the metric's direction (its card); p boot: paired bootstrap over prompts (none where the "
          "bootstrap collapsed to one value: no uncertainty estimate); p AR: approximate randomization on per-item "
          "values (± its Monte Carlo error)")
    return 1 if refused else 0
