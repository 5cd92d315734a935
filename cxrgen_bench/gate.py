"""The CI regression gate: a candidate checkpoint's results against a baseline's, under per-metric
rules. Direction (which way is worse) comes from metric cards only.

Rules (YAML)::

    default: {relative: 0.05}                        # applied to every other metric both files have
    metrics:
      "fid[xrv-densenet121]": {absolute: 0.5, significance: 0.05}
      ms_ssim: {absolute: 0.02}
      classifier_auroc: {absolute: 0.01}
      "fid[clip-vit-b-32]": {ignore: true}
      "fid[xrv-densenet121]@sex": {absolute: 1.0}      # the gap between the sexes (runs scored with --by sex)
      "classifier_auroc@race.worst": {absolute: 0.01}  # the worst group's own value may not get worse

A metric regresses when the candidate is worse than the baseline by more than the tolerance
(the larger of `absolute` and `relative` × |baseline|; 0 when neither is given) and, if
`significance` is set, the paired bootstrap says so at p < significance. A metric the rules ask
for that is missing or failed in either file fails the gate, naming the rule. To gate a run that
computed only some metrics (e.g. `--metrics ms_ssim`), pass a rules file that lists only those, or
mark the others `{ignore: true}`; `leaderboard/gates.yaml` demands the full roentgen2022 set.

Exit codes: 0 pass; 1 regression (or a required metric missing); 2 unusable input (unreadable or
invalid files, different profiles or prompt sets unless --force).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .compare import compare_metric, entry_of, usable
from .results.entry import ResultView
from .errors import InputError
from .registry import NoCardError, card_for, find_card
from .results.store import profile_label
from .yamlfile import load_yaml

PASS, REGRESSION, UNUSABLE = 0, 1, 2


@dataclass
class GateRow:
    key: str
    direction: str
    baseline: float | None
    candidate: float | None
    worse_by: float | None
    allowed: float | None
    p_value: float | None
    status: str  # ok | regression | missing | ignored
    note: str = ""


@dataclass
class GateReport:
    exit_code: int
    rows: list[GateRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code, "rows": [asdict(r) for r in self.rows], "problems": self.problems}


TOLERANCES = ("absolute", "relative", "significance")


def _check_rule(path: str | Path, name: str, rule: Any) -> None:
    if not isinstance(rule, dict):
        raise InputError(f"{path}: rule {name} is {rule!r}, not a mapping; write e.g. {{absolute: {rule!r}}} or "
                         "{relative: 0.05} (fields: absolute, relative, significance, ignore)")
    bad = set(rule) - {*TOLERANCES, "ignore"}
    if bad:
        raise InputError(f"{path}: rule {name} has unknown field(s) {sorted(bad)}")
    for field_name in TOLERANCES:
        v = rule.get(field_name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0):
            raise InputError(f"{path}: rule {name}: {field_name} must be a number ≥ 0, not {v!r}")
    alpha = rule.get("significance")
    if alpha is not None and not 0 < alpha < 1:
        raise InputError(f"{path}: rule {name}: significance is a level α between 0 and 1 (e.g. 0.05: a change is a "
                         f"regression only when its p-value is below α), not {alpha!r}")
    if "ignore" in rule and not isinstance(rule["ignore"], bool):
        raise InputError(f"{path}: rule {name}: ignore is true or false, not {rule['ignore']!r}")


def card_problem(key: str) -> str:
    try:
        card_for(key)
    except NoCardError as exc:
        return str(exc)
    return "ok"


def load_rules(path: str | Path | None) -> dict[str, Any]:
    if path is None:
        return {"default": {"relative": 0.0}, "metrics": {}, "source": "the built-in rule (any worsening fails)"}
    rules = load_yaml(path, "gate rules (e.g. leaderboard/gates.yaml)") or {}
    if not isinstance(rules, dict):
        raise InputError(f"{path}: gate rules are a mapping with `default` and `metrics`, not {rules!r}")
    unknown = set(rules) - {"default", "metrics"}
    if unknown:
        raise InputError(f"{path}: unknown top-level key(s) {sorted(unknown)}; use default and metrics")
    metrics = rules.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise InputError(f"{path}: `metrics` maps metric keys to rules, e.g. ms_ssim: {{absolute: 0.02}}; "
                         f"not {metrics!r}")
    for key, rule in metrics.items():
        base = str(key).partition("@")[0]  # "KEY@sex": the gap between groups of a run scored with --by
        if find_card(base) is None:  # a typo would gate nothing: the rule would never meet its metric
            raise InputError(f"{path}: rule {key!r} names no metric with a card ({card_problem(base)}); "
                             "`cxrgen-bench ls metrics` lists them")
        _check_rule(path, repr(key), {} if rule is None else rule)
    if rules.get("default") is not None:
        _check_rule(path, "default", rules["default"])
    return {"default": rules.get("default"), "metrics": metrics, "source": str(path)}


def check_comparable(baseline: dict[str, Any], candidate: dict[str, Any]) -> list[str]:
    problems = []
    pa, pb = baseline["profile"], candidate["profile"]
    if (pa["name"], pa["version"], pa.get("overrides") or []) != (pb["name"], pb["version"], pb.get("overrides") or []):
        problems.append(f"profiles differ: baseline {profile_label(pa)}, candidate {profile_label(pb)}")
    sa, sb = (baseline.get("prompt_set") or {}).get("sha256"), (candidate.get("prompt_set") or {}).get("sha256")
    if sa and sb and sa != sb:
        problems.append(f"prompt sets differ (sha256 {sa[:12]}… vs {sb[:12]}…)")
    if baseline.get("kind") == "reported" or candidate.get("kind") == "reported":
        problems.append("a reported (typed-in) entry cannot be gated: gate measured results only")
    # A metric whose version changed is another implementation: its numbers are not comparable.
    a, b = ResultView.of(baseline).entries, ResultView.of(candidate).entries
    changed = sorted(f"{key} (v{entry.version} vs v{b[key].version})" for key, entry in a.items()
                     if key in b and entry.version != b[key].version)
    if changed:
        problems.append(f"metric versions differ: {', '.join(changed)}; re-score the baseline with this cxrgen-bench")
    return problems


def run_gate(baseline: dict[str, Any], candidate: dict[str, Any], rules: dict[str, Any],
             force: bool = False) -> GateReport:
    problems = check_comparable(baseline, candidate)
    if problems and not force:
        return GateReport(UNUSABLE, problems=problems + ["refusing to compare (pass --force to override)"])
    explicit = rules.get("metrics") or {}
    default = rules.get("default")
    base, cand = ResultView.of(baseline).entries, ResultView.of(candidate).entries
    keys = list(explicit) + (sorted(k for k in base if k not in explicit) if default is not None else [])
    rows = []
    for key in keys:
        rule = explicit.get(key, default) or {}
        if rule.get("ignore"):
            rows.append(GateRow(key, "?", None, None, None, None, None, "ignored"))
            continue
        entries = {"baseline": entry_of(base, key), "candidate": entry_of(cand, key)}
        comparison = compare_metric(key, entries["baseline"], entries["candidate"])
        if comparison.direction not in ("lower", "higher"):
            # Which way is worse comes from the metric's card only; without it nothing can be judged.
            rows.append(GateRow(key, "?", comparison.a, comparison.b, None, None, None, "missing", comparison.note))
            continue
        if comparison.difference is None:
            absent = " and ".join(side for side, entry in entries.items() if not usable(entry))
            required_by = f"rule {key!r}" if key in explicit else "the default rule"
            note = f"no value in the {absent}; required by {required_by} of {rules.get('source', 'the rules')}"
            rows.append(GateRow(key, comparison.direction, comparison.a, comparison.b, None, None, None, "missing",
                                note))
            continue
        worse_by = comparison.difference if comparison.direction == "lower" else -comparison.difference
        tolerances = [v for v in (rule.get("absolute"), None if rule.get("relative") is None
                                  else rule["relative"] * abs(comparison.a)) if v is not None]
        allowed = max(tolerances) if tolerances else 0.0
        status, note = "ok", comparison.note
        if worse_by > allowed:
            alpha = rule.get("significance")
            if alpha is None:
                status = "regression"
            elif comparison.p_value is None:
                status, note = "regression", "worse beyond tolerance; no paired replicates to test significance"
            elif comparison.p_value < alpha:
                status = "regression"
            else:
                note = f"worse beyond tolerance but not significant (p={comparison.p_value:.3g} ≥ {alpha})"
        rows.append(GateRow(key, comparison.direction, comparison.a, comparison.b, worse_by, allowed,
                            comparison.p_value, status, note))
    failed = any(r.status in ("regression", "missing") for r in rows)
    return GateReport(REGRESSION if failed else PASS, rows, problems)


def format_report(report: GateReport) -> str:
    lines = [f"problem: {p}" for p in report.problems]
    if report.rows:
        lines.append(f"{'metric':30s} {'dir':>5s} {'baseline':>10s} {'candidate':>10s} {'worse by':>10s} "
                     f"{'allowed':>9s} {'p':>7s}  status")

        def f(v: float | None) -> str:
            return "—" if v is None else f"{v:.4g}"

        for r in report.rows:
            d = {"lower": "↓", "higher": "↑"}.get(r.direction, "?")
            lines.append(f"{r.key:30s} {d:>5s} {f(r.baseline):>10s} {f(r.candidate):>10s} {f(r.worse_by):>10s} "
                         f"{f(r.allowed):>9s} {f(r.p_value):>7s}  {r.status.upper()}" + (f"  ({r.note})" if r.note else ""))
    if any(r.status == "missing" for r in report.rows):
        lines.append("missing: a metric the rules require has no value. To gate only the metrics a run computed, "
                     "pass --rules with a file that lists just those (or marks the others `ignore: true`).")
    verdict = {PASS: "PASS", REGRESSION: "FAIL: regression", UNUSABLE: "UNUSABLE INPUT"}[report.exit_code]
    lines.append(f"gate: {verdict} (exit {report.exit_code})")
    return "\n".join(lines)
