import json

import numpy as np

from cxrgen_bench.cli import main
from cxrgen_bench.compare import compare
from cxrgen_bench.gate import PASS, REGRESSION, UNUSABLE, load_rules, run_gate

from .results_factory import measured, per_prompt, variant

RULES = {"default": {"relative": 0.05},
         "metrics": {"fid[xrv-densenet121]": {"relative": 0.10}, "ms_ssim": {"absolute": 0.01, "significance": 0.05},
                     "classifier_auroc": {"absolute": 0.02}}}


def test_identical_results_pass():
    base = measured()
    report = run_gate(base, measured(), RULES)
    assert report.exit_code == PASS and {r.status for r in report.rows} == {"ok"}


def test_planted_regression_fails_and_change_inside_tolerance_passes():
    base = measured(fid=10.0, auroc=0.80)
    worse_fid = measured(fid=11.5, auroc=0.80)  # +15% > 10% allowed; lower is better
    report = run_gate(base, worse_fid, RULES)
    assert report.exit_code == REGRESSION
    row = next(r for r in report.rows if r.key == "fid[xrv-densenet121]")
    assert row.status == "regression" and row.worse_by == 1.5 and row.allowed == 1.0
    assert run_gate(base, measured(fid=10.8, auroc=0.79), RULES).exit_code == PASS  # inside both tolerances
    better = run_gate(base, measured(fid=5.0, auroc=0.95), RULES)  # direction from cards: improvements pass
    assert better.exit_code == PASS


def test_significance_uses_paired_replicates():
    values = per_prompt(0.30, 1)
    base = measured(ms_values=values)
    noisy_same = measured(ms_values=values + np.random.default_rng(5).normal(0, 0.001, values.size))
    assert run_gate(base, noisy_same, RULES).exit_code == PASS
    clearly_worse = measured(ms_values=values + 0.04)  # MS-SSIM up = less diverse = worse
    report = run_gate(base, clearly_worse, RULES)
    row = next(r for r in report.rows if r.key == "ms_ssim")
    assert row.status == "regression" and row.p_value < 0.05 and report.exit_code == REGRESSION


def test_mismatched_profiles_or_prompts_are_unusable_unless_forced():
    base = measured()
    other = measured(profile="roentgen2022-quick")
    report = run_gate(base, other, RULES)
    assert report.exit_code == UNUSABLE and "profiles differ" in report.problems[0]
    assert run_gate(base, other, RULES, force=True).exit_code == PASS
    assert run_gate(base, measured(prompt_sha="q" * 64), RULES).exit_code == UNUSABLE


def test_missing_metric_is_reported_not_crashed():
    cand = measured()
    del cand["metrics"]["classifier_auroc"]
    report = run_gate(measured(), cand, RULES)
    row = next(r for r in report.rows if r.key == "classifier_auroc")
    assert row.status == "missing" and report.exit_code == REGRESSION


def test_cli_exit_codes_and_json(tmp_path, capsys):
    base, cand, bad = tmp_path / "b.json", tmp_path / "c.json", tmp_path / "bad.json"
    base.write_text(json.dumps(measured()))
    cand.write_text(json.dumps(measured(fid=20.0)))
    bad.write_text(json.dumps({**measured(), "schema_version": "0"}))
    rules = tmp_path / "rules.yaml"
    rules.write_text("default: {relative: 0.05}\nmetrics:\n  ms_ssim: {absolute: 0.01}\n")
    assert main(["gate", "--baseline", str(base), "--candidate", str(base), "--rules", str(rules)]) == 0
    assert "gate: PASS" in capsys.readouterr().out
    assert main(["gate", "--baseline", str(base), "--candidate", str(cand), "--rules", str(rules), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["exit_code"] == 1 and any(r["status"] == "regression" for r in report["rows"])
    assert main(["gate", "--baseline", str(base), "--candidate", str(bad), "--rules", str(rules)]) == 2
    assert "schema_version '0' is not supported" in capsys.readouterr().err
    (tmp_path / "typo.yaml").write_text("metrics:\n  ms_ssim: {tolerance: 1}\n")
    assert main(["gate", "--baseline", str(base), "--candidate", str(base), "--rules", str(tmp_path / "typo.yaml")]) == 2


def test_committed_gate_rules_load():
    from pathlib import Path

    rules = load_rules(Path(__file__).resolve().parents[1] / "leaderboard" / "gates.yaml")
    assert rules["metrics"]["classifier_auroc"]["significance"] == 0.05


def test_compare_paired_differences(tmp_path, capsys):
    values = per_prompt(0.30, 1)
    a, b = measured(ms_values=values), measured(ms_values=values - 0.03, fid=12.0)
    rows = {r.key: r for r in compare(a, b)}
    assert rows["ms_ssim"].paired and rows["ms_ssim"].difference < 0 and rows["ms_ssim"].p_value < 0.01
    assert rows["ms_ssim"].ci95[1] < 0
    assert not rows["fid[xrv-densenet121]"].paired and rows["fid[xrv-densenet121]"].difference == 2.0
    del b["metrics"]["classifier_auroc"]
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    assert "missing or failed in the second file" in out


def test_a_metric_implemented_anew_is_not_compared_with_its_old_version():
    base = measured("a")
    cand = variant(base)
    cand["metrics"]["ms_ssim"]["version"] = "2"  # e.g. MS-SSIM now computed by another library
    report = run_gate(base, cand, load_rules(None))
    assert report.exit_code == UNUSABLE and "metric versions differ: ms_ssim (v1 vs v2)" in report.problems[0]
    from cxrgen_bench.compare import compare_metric

    row = compare_metric("ms_ssim", base["metrics"]["ms_ssim"], cand["metrics"]["ms_ssim"])
    assert row.p_value is None and not row.paired and "versions differ" in row.note
