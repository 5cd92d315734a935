"""`cxrgen-bench gate`: a candidate's results against a baseline's; exit 1 on a regression."""
from __future__ import annotations

import argparse
import json
import sys

from ..errors import CxrgenError

HELP = "fail (exit 1) when a candidate regresses against a baseline"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--baseline", required=True, help="results file of the reference run (e.g. a leaderboard entry)")
    p.add_argument("--candidate", required=True, help="results file of the run to judge")
    p.add_argument("--rules", help="YAML rules (see cxrgen_bench/gate.py); default: any worsening fails. A metric a "
                                   "rule names must be in both files: to gate a run that computed fewer metrics than "
                                   "leaderboard/gates.yaml asks for, pass a file that lists only those (or marks the "
                                   "others `ignore: true`)")
    p.add_argument("--force", action="store_true", help="compare even across profiles or prompt sets")
    p.add_argument("--json", action="store_true", help="print the gate's report as JSON")


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
