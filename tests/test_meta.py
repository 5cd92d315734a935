"""The meta-evaluation: corruptions do what they say, the views' numbers come from the definitions,
and its known answers hold on the phantom benchmark (a metric on an encoder that sees laterality
penalises flips)."""
import numpy as np
import pytest

from cxrgen_bench.meta import (SEVERITIES, FeatureMetric, corrupt, corruption_curves, known_answer_agreement,
                               phantom_sets, run, sample_size_curves)


def test_corruptions_are_graded_and_severity_zero_is_the_identity():
    ref, held, plain = phantom_sets(6, size=64)
    for kind in SEVERITIES:
        assert all(np.array_equal(a, b) for a, b in zip(corrupt(held, kind, 0, plain=plain), held))
        levels = [np.mean([np.abs(c - h).mean() for c, h in zip(corrupt(held, kind, s, plain=plain), held)])
                  for s in SEVERITIES[kind]]
        assert levels[-1] > levels[0] and all(a <= b + 1e-6 for a, b in zip(levels, levels[1:])), (kind, levels)
    flipped = corrupt(held, "flip", 0.5)
    assert np.array_equal(flipped[0], held[0][:, ::-1]) and np.array_equal(flipped[-1], held[-1])
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(held, "rotate", 1.0)


def test_views_compute_what_they_report():
    rng = np.random.default_rng(0)
    gen, ref = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    mean_gap = FeatureMetric("gap", "lower", lambda g, r: float(np.linalg.norm(g.mean(0) - r.mean(0))))
    rows = sample_size_curves(gen, ref, [10, 40], [mean_gap], draws=4, seed=1)
    pick = np.random.default_rng(1)
    first = [mean_gap.fn(gen[pick.choice(40, 10, replace=False)], ref) for _ in range(4)]
    assert rows[0]["mean"][0] == pytest.approx(np.mean(first)) and rows[0]["std"][1] == pytest.approx(0.0)
    # a metric that grows with blur: ρ = 1 and a positive sensitivity
    embed = lambda images: np.array([[np.abs(np.diff(i, axis=1)).mean()] for i in images])  # noqa: E731 (sharpness)
    _, held, _ = phantom_sets(8, size=64)
    sharp = FeatureMetric("sharpness gap", "lower", lambda g, r: float(abs(g.mean() - r.mean())))
    (row,) = corruption_curves(embed, held, held, ["blur"], [sharp], resamples=5)
    assert row["rho"] == pytest.approx(1.0) and row["sensitivity"] > 0


def test_known_answer_agreement_uses_paired_replicates():
    def entry(value, reps):
        return {"value": value, "bootstrap": {"replicates": reps, "units_sha256": "u"}}

    runs = {"phantom-faithful": {"metrics": {"fid[x]": entry(1.0, [1.0, 2.0])}},
            "phantom-degraded": {"metrics": {"fid[x]": entry(3.0, [3.0, 1.0])}},
            "phantom-ignores-prompt": {"metrics": {"fid[x]": entry(5.0, [5.0, 5.0])}},
            "phantom-flips-laterality": {"metrics": {"fid[x]": entry(0.5, [0.5, 0.5])}}}
    (row,) = known_answer_agreement(runs)
    assert row["tau"] == pytest.approx(1 / 3)  # two of three pairs right (FID prefers the flipped images)
    # replicate 1: same signs → 1/3; replicate 2: degraded beats faithful → (−1 + 1 − 1)/3
    assert row["ci95"][0] == pytest.approx(np.percentile([1 / 3, -1 / 3], 2.5))


def test_meta_on_the_phantom_evaluator_sees_flips_and_removed_findings(tmp_path):
    report = run(tmp_path, n=48, log=lambda m: None)
    rows = {(r["corruption"], r["metric"]): r for r in report["corruptions"]["phantom-evaluator"]}
    for metric in ("fid", "kid", "cmmd"):
        for kind in ("flip", "blur", "contrast"):
            assert rows[(kind, metric)]["rho"] >= 0.8 and rows[(kind, metric)]["sensitivity"] > 2, (kind, metric)
    assert (tmp_path / "meta.md").read_text().startswith("# Which metric to trust")
    fid = next(r for r in report["sample_size"]["phantom-evaluator"] if r["metric"] == "fid")
    assert fid["mean"][0] > fid["mean"][-1]  # FID's small-sample bias: upwards


def test_the_views_run_on_a_folder_of_real_radiographs(real_cxr_jpegs, tmp_path):
    import shutil

    from cxrgen_bench.errors import InputError
    from cxrgen_bench.meta import run

    folder = tmp_path / "real"
    folder.mkdir()
    for p in real_cxr_jpegs:
        shutil.copy(p, folder / p.name)
    report = run(tmp_path / "out", n=8, images=folder, profile="calibration-phantom", backbones=["phantom-evaluator"],
                 log=lambda m: None)
    assert report["images"] == "real radiographs" and report["n"] == 8 and len(report["files"]) == 16
    rows = report["corruptions"]["phantom-evaluator"]
    assert {r["corruption"] for r in rows} == {"blur", "noise", "jpeg", "contrast", "flip"}  # no "findings" on real images
    fid_blur = next(r for r in rows if r["metric"] == "fid" and r["corruption"] == "blur")
    assert fid_blur["rho"] > 0.5 and fid_blur["values"][-1] > fid_blur["values"][0]  # heavy blur is worse
    assert report["sample_size"]["phantom-evaluator"][0]["sizes"] == [6, 8]
    assert "measured on real radiographs" in (tmp_path / "out" / "meta.md").read_text()
    few = tmp_path / "few"
    few.mkdir()
    shutil.copy(real_cxr_jpegs[0], few / "a.jpeg")
    with pytest.raises(InputError, match="at least 8 radiographs"):
        run(tmp_path / "out2", images=few, profile="calibration-phantom", log=lambda m: None)


def test_under_torchrun_only_rank_zero_runs_meta(tmp_path, monkeypatch, capsys):
    """The other ranks of a torchrun job say rank 0 does the work and exit 0 without writing anything."""
    from cxrgen_bench.cli import main

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["meta", "--out", str(tmp_path / "meta"), "--n", "8"]) == 0
    assert not (tmp_path / "meta").exists()
    assert "rank 0 alone" in capsys.readouterr().err
