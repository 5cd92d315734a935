"""`cxrgen-bench gate`: a candidate's results against a baseline's; exit 1 on a regression."""
from __future__ import annotations

import argparse
import json
import sys

from ..errors import CxrgenError

HELP = "fail (exit 1) when a candidate regresses against a baseline"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--baseline", required=True)
    p.add_argument("--candidate", required=True)
    p.add_argument("--rules", help="YAML rules (see cxrgen_bench/gate.py); default: any worsening fails")
    p.add_argument("--force", action="store_true", help="compare even across profiles or prompt sets")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..gate import UNUSABLE, format_report, load_rules, run_gate
    from ..results.store import read_result

    try:
        baseline, candidate = read_result(args.baseline), read_result(args.candidate)
        rules = load_rules(args.rules)
    except CxrgenError as exc:
        print(f"cxrgen-bench gate: unusable input: {exc}", file=sys.stderr)
        return UNUSABLE
    report = run_gate(baseline, candidate, rules, force=args.force)
    print(json.dumps(report.as_dict(), indent=2) if args.json else format_report(report))
    return report.exit_code
