from cxrgen_bench.cli import main
from cxrgen_bench.results import read_result


def test_demo_runs_offline_and_metrics_order_as_built(real_cxr_jpegs, inception_weights, tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    results = {p.stem: read_result(p) for p in (tmp_path / "results").glob("*.json")}
    assert set(results) == {"near-copy", "degraded", "mode-collapse", "ignores-prompt"}
    fid = {k: r["metrics"]["fid[inception-v3-fid]"]["value"] for k, r in results.items()}
    ms = {k: r["metrics"]["ms_ssim"]["value"] for k, r in results.items()}
    assert fid["near-copy"] < fid["degraded"]
    assert ms["mode-collapse"] > 0.999 and ms["mode-collapse"] == max(ms.values())
    assert "| near-copy |" in capsys.readouterr().out
    assert (tmp_path / "README.md").read_text().startswith("# cxrgen-bench demo (not a CXR-generator result)")
