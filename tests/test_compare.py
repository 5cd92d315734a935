"""`compare` tells the truth: metrics computed with other settings are refused by name (or compared on request
with the difference said), a collapsed bootstrap is no uncertainty estimate and never significant, and every
row says which side is better."""
from __future__ import annotations

import copy
import json

from cxrgen_bench.cli import main
from cxrgen_bench.compare import compare, compare_metric
from cxrgen_bench.results import write_result
from cxrgen_bench.results.store import upgrade

from .results_factory import measured


def pair(tmp_path, **changes):
    a = upgrade(measured("model-a", fid=10.0))
    b = upgrade(measured("model-b", fid=8.0))
    for key, value in changes.items():
        b["profile"][key] = value
    return a, b


def test_a_setting_one_run_changed_is_refused_by_name_for_the_metrics_it_touches(tmp_path):
    a, b = pair(tmp_path, overrides=["metrics.ms_ssim.resize=512"], sha256="1" * 64)
    rows = {r.key: r for r in compare(a, b, shuffles=0)}
    ms = rows["ms_ssim"]
    assert ms.difference is None and "metrics.ms_ssim.resize" in ms.note and "512" in ms.note
    assert rows["fid[xrv-densenet121]"].difference == -2.0  # a setting of another metric: still compared
    allowed = {r.key: r for r in compare(a, b, shuffles=0, allow_different_settings=True)}["ms_ssim"]
    assert allowed.difference is not None and allowed.note.startswith("settings differ: metrics.ms_ssim.resize")


def test_a_backbone_setting_touches_that_backbones_keys_and_another_profile_every_key(tmp_path):
    a, b = pair(tmp_path, overrides=["backbones.xrv-densenet121.layer=\"features\""], sha256="1" * 64)
    rows = {r.key: r for r in compare(a, b, shuffles=0)}
    assert rows["fid[xrv-densenet121]"].difference is None and rows["ms_ssim"].difference is not None
    a, b = pair(tmp_path, name="roentgen2022-quick")
    assert all(r.difference is None and "profile roentgen2022 v2.1 vs roentgen2022-quick" in r.note
               for r in compare(a, b, shuffles=0))


def test_the_command_line_names_what_differs_and_exits_1(tmp_path, capsys):
    a, b = pair(tmp_path, overrides=["metrics.ms_ssim.resize=512"], sha256="1" * 64)
    pa, pb = write_result(a, tmp_path / "a.json"), write_result(b, tmp_path / "b.json")
    assert main(["compare", str(pa), str(pb), "--shuffles", "0"]) == 1
    out = capsys.readouterr().out
    assert "not compared, computed with other settings" in out and "metrics.ms_ssim.resize" in out
    assert main(["compare", str(pa), str(pb), "--shuffles", "0", "--allow-different-settings"]) == 0
    out = capsys.readouterr().out
    assert "compared although computed with other settings" in out and "better" in out.splitlines()[3]


def test_a_collapsed_bootstrap_is_no_uncertainty_estimate_and_never_significant():
    a = {"metric": "kid", "version": "1", "value": 0.003011,
         "bootstrap": {"resamples": 200, "seed": 0, "units_sha256": "u", "replicates": [0.003011] * 200}}
    b = copy.deepcopy(a)
    b["value"] = 0.004
    b["bootstrap"]["replicates"] = [0.004] * 200
    row = compare_metric("kid[inception-v3-fid]", a, b, shuffles=0)
    assert row.p_value is None and row.ci95 is None and "no uncertainty estimate" in row.note
    same = compare_metric("kid[inception-v3-fid]", a, copy.deepcopy(a), shuffles=0)
    assert same.p_value == 1.0 and same.ci95 is None  # identical on every resample: no evidence of a change


def test_every_row_says_which_side_is_better():
    a, b = upgrade(measured("a", fid=10.0, ms=0.3)), upgrade(measured("b", fid=8.0, ms=0.3))
    rows = {r.key: r for r in compare(a, b, shuffles=0)}
    assert rows["fid[xrv-densenet121]"].better == "b"  # lower is better
    assert json.loads(json.dumps(rows["fid[xrv-densenet121]"].as_dict()))["better"] == "b"
    assert rows["classifier_auroc"].better == "tie"
