"""VAE reconstruction (seeds/001 §2.3, Table 1): the per-pair numerics against scikit-image and
torchmetrics, a tiny AutoencoderKL loaded the way a user's checkpoint is, the study end to end on
phantoms, its known answer, resume, and bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cxrgen_bench.errors import CxrgenError, InputError, WeightsError
from cxrgen_bench.evaluation.context import RunOptions
from cxrgen_bench.functional import reconstruction as F
from cxrgen_bench.registry import AUTOENCODERS, METRICS, STUDIES
from cxrgen_bench.results.store import validate
from cxrgen_bench.studies import run_study
from cxrgen_bench.studies.reconstruction import VAEReconstruction, quick_known_answer

TINY_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, sample_size=32,
                block_out_channels=(8, 16), norm_num_groups=8,
                down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)


def pairs(seed: int = 0, shape=(3, 40, 56), noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random(shape)
    return x, np.clip(x + rng.normal(0, noise, shape), 0, 1)


# --- numerics ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed,shape,noise", [(0, (3, 40, 56), 0.1), (1, (2, 11, 11), 0.3), (2, (1, 64, 64), 0.01)])
def test_ssim_and_psnr_match_scikit_image(seed, shape, noise):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    x, y = pairs(seed, shape, noise)
    ref = [structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
           for a, b in zip(x, y)]
    np.testing.assert_allclose(F.ssim(x, y), ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(F.psnr(x, y), [peak_signal_noise_ratio(a, b, data_range=1.0) for a, b in zip(x, y)],
                               rtol=1e-12)
    np.testing.assert_allclose(F.rmse(x, y), np.sqrt(((x - y) ** 2).mean(axis=(1, 2))), rtol=1e-12)


def test_ssim_matches_torchmetrics_on_the_valid_positions():
    # torchmetrics averages a map that includes reflect-padded borders; on the positions where the window
    # lies inside the image the two maps must agree, so its map cropped by the window radius is our mean.
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    x, y = pairs(3, (2, 48, 40))
    _, full = tm_ssim(torch.tensor(y)[:, None], torch.tensor(x)[:, None], data_range=1.0, sigma=1.5,
                      kernel_size=11, reduction="none", return_full_image=True)
    np.testing.assert_allclose(F.ssim(x, y), full[:, 0, 5:-5, 5:-5].mean(dim=(1, 2)).numpy(), rtol=0, atol=1e-12)


def test_identical_images_are_finite_and_symmetric_measures():
    x, y = pairs(4, (2, 32, 32))
    assert np.all(F.rmse(x, x) == 0) and np.all(F.psnr(x, x) == F.PSNR_CAP_DB) and np.allclose(F.ssim(x, x), 1.0)
    assert np.all(np.isfinite(F.psnr(x, x)))
    for fn in (F.rmse, F.psnr, F.ssim):
        np.testing.assert_allclose(fn(x, y), fn(y, x), rtol=1e-12)
    with pytest.raises(CxrgenError, match="11"):
        F.ssim(x[:, :10, :10], y[:, :10, :10])


def test_pinned_values_on_a_small_fixture():
    ramp = np.tile(np.linspace(0, 1, 24), (24, 1))
    blocky = np.kron(ramp[::4, ::4], np.ones((4, 4)))  # the ramp at a sixteenth of its detail
    # by hand: within each block the error is 0, 1, 2, 3 ramp steps of 1/23, so MSE = 3.5 / 23²
    assert F.rmse(ramp, blocky)[0] == pytest.approx(np.sqrt(3.5) / 23, rel=1e-12)
    assert F.psnr(ramp, blocky)[0] == pytest.approx(10 * np.log10(23 ** 2 / 3.5), rel=1e-12)
    assert F.ssim(ramp, blocky)[0] == pytest.approx(0.7848247379761454, abs=1e-12)


def test_accuracy_and_f1_match_scikit_learn_and_table1_percent_change():
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(5)
    truth = (rng.random((40, 3)) < 0.3).astype(float)
    truth[:4, 1] = np.nan  # skipped under the label policy
    pred = rng.random((40, 3)) < 0.4
    acc = F.weighted_accuracy(pred, truth, np.ones((1, 40)))[0]
    f1 = F.weighted_f1(pred, truth, np.ones((1, 40)))[0]
    for j in range(3):
        keep = np.isfinite(truth[:, j])
        assert acc[j] == pytest.approx(accuracy_score(truth[keep, j], pred[keep, j]))
        assert f1[j] == pytest.approx(f1_score(truth[keep, j], pred[keep, j]))
    w = np.zeros((1, 40))
    w[0, :10] = 2  # a resample: the first ten images twice each
    assert F.weighted_f1(pred, truth, w)[0, 0] == pytest.approx(f1_score(truth[:10, 0], pred[:10, 0]))
    assert F.percent_change(37.1, 42.7) == pytest.approx(15.09, abs=0.01)  # Table 1, Edema accuracy
    assert F.percent_change(0.0, 1.0) is None


# --- the diffusers autoencoder -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_vae(tmp_path_factory) -> tuple[Path, torch.nn.Module]:
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(**TINY_VAE).eval()
    pipe = tmp_path_factory.mktemp("pipe")
    vae.save_pretrained(pipe / "vae", safe_serialization=True)
    (pipe / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline",
                                                       "vae": ["diffusers", "AutoencoderKL"]}))
    return pipe, vae


def test_the_plugin_reconstructs_with_the_posterior_mode_from_pipeline_and_vae_folders(tiny_vae):
    pipe, vae = tiny_vae
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        expected = vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1)
    from_pipe = AUTOENCODERS.get("diffusers")(str(pipe))
    from_vae = AUTOENCODERS.get("diffusers")(str(pipe / "vae"))
    assert from_pipe.provenance["sha256"] == from_vae.provenance["sha256"]
    assert from_pipe.provenance["format"] == "safetensors" and from_pipe.downsample == 2
    torch.testing.assert_close(from_pipe.reconstruct(x), expected, rtol=0, atol=1e-6)
    one_by_one = torch.cat([from_vae.reconstruct(x[i:i + 1]) for i in range(4)])
    torch.testing.assert_close(one_by_one, expected, rtol=0, atol=1e-5)


def test_vae_folders_without_safetensors_are_refused_and_pickle_needs_the_flag(tiny_vae, tmp_path):
    _, vae = tiny_vae
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps(dict(vae.config)))
    with pytest.raises(InputError, match=f"{empty}.*safetensors.*save_pretrained"):
        AUTOENCODERS.get("diffusers")(str(empty))
    pickled = tmp_path / "pickled"
    vae.save_pretrained(pickled, safe_serialization=False)
    with pytest.raises(WeightsError, match="diffusion_pytorch_model.bin.*--allow-pickle"):
        AUTOENCODERS.get("diffusers")(str(pickled))
    allowed = AUTOENCODERS.get("diffusers")(str(pickled), allow_pickle=True)
    assert allowed.provenance["trusted_by"] == "--allow-pickle"
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(allowed.reconstruct(x), AUTOENCODERS.get("diffusers")(str(tiny_vae[0])).reconstruct(x))
    with pytest.raises(InputError, match="not found"):
        AUTOENCODERS.get("diffusers")(str(tmp_path / "nowhere"))


# --- the study -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def phantoms(tmp_path_factory) -> Path:
    from cxrgen_bench.calibration.dataset import PhantomDataset

    root = tmp_path_factory.mktemp("phantoms")
    PhantomDataset(root).prompts(limit=12, seed=1, size=32).write(root / "prompts.csv")
    return root


def study(phantoms: Path, **settings) -> VAEReconstruction:
    base = {"images": str(phantoms / "images"), "labels": str(phantoms / "prompts.csv"), "resolution": 32,
            "backbones": ["phantom-evaluator"], "bootstrap": 50, "chunk": 5}
    return VAEReconstruction({**base, **settings}, "calibration-phantom", RunOptions())


def test_the_study_end_to_end_with_a_tiny_vae_writes_valid_complete_results(tiny_vae, phantoms, tmp_path):
    result = run_study(study(phantoms, vae=str(tiny_vae[0]), batch_size=4), tmp_path / "out")
    assert result["status"] == "complete" and validate(json.loads((tmp_path / "out" / "results.json").read_text()))
    metrics = result["metrics"]
    assert set(metrics) == {"recon_rmse", "recon_psnr", "recon_ssim", "recon_fd[phantom-evaluator]", "recon_accuracy",
                            "recon_f1", "recon_agreement", "recon_cosine"}
    assert all(METRICS.get(e["metric"]).card.section == "reconstruction" for e in metrics.values())
    assert metrics["recon_rmse"]["n"] == {"requested": 12, "effective": 12}
    lo, hi = metrics["recon_ssim"]["ci95"]
    assert lo <= metrics["recon_ssim"]["value"] <= hi
    acc = metrics["recon_accuracy"]["details"]
    assert set(acc["per_class"]) == set(acc["original_per_class"]) and "Cardiomegaly" in acc["per_class"]
    assert acc["label_policy"] == {"uncertain": 1.0, "blank": 0.0} and acc["threshold"] == 0.5
    subject = result["subject"]["data"]
    assert subject["autoencoder"]["latent"] == "posterior mode (mean)" and subject["n_used"] == 12
    # random weights wreck the image: far from the codecs' fidelity
    assert metrics["recon_ssim"]["value"] < 0.5
    # the units hold per-image numbers; the chunks (5, 5, 2) and the batches of 4 never align
    units = sorted(p.name for p in (tmp_path / "out" / "units").glob("*.json"))
    assert units == ["chunk-0000.json", "chunk-0001.json", "chunk-0002.json", "frechet.json"]


def test_known_answer_orders_the_calibration_codecs_and_renders_a_board(tmp_path):
    from cxrgen_bench.leaderboard.render import build

    results = quick_known_answer(tmp_path, n=48, bootstrap=0)
    value = {c: {k: v["value"] for k, v in r["metrics"].items()} for c, r in results.items()}
    d2, d8, sh = value["codec-down2"], value["codec-down8"], value["codec-shuffle"]
    assert d2["recon_rmse"] < d8["recon_rmse"] < sh["recon_rmse"]
    assert d2["recon_psnr"] > d8["recon_psnr"] > sh["recon_psnr"]
    assert d2["recon_ssim"] > d8["recon_ssim"] > sh["recon_ssim"]
    assert d2["recon_agreement"] >= d8["recon_agreement"] > sh["recon_agreement"]
    assert d2["recon_cosine"] > d8["recon_cosine"]
    assert d2["recon_fd[phantom-evaluator]"] < d8["recon_fd[phantom-evaluator]"]
    # the shuffle is read as well as chance: its accuracy falls well below the originals' own
    shuffle_acc = results["codec-shuffle"]["metrics"]["recon_accuracy"]["details"]
    assert shuffle_acc["change_percent_macro"] < -10
    entries = [dict(r, name=c) for c, r in results.items()]
    board = build(entries, tmp_path / "board")["README.md"].read_text()
    assert "VAE reconstruction" in board and "codec-shuffle" in board and "PSNR" in board


def test_a_killed_study_resumes_to_the_numbers_of_an_uninterrupted_run(phantoms, tmp_path):
    whole = run_study(study(phantoms, vae="codec-down2"), tmp_path / "whole")

    def kill(unit):
        if unit.id == "chunk-0001":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(study(phantoms, vae="codec-down2"), tmp_path / "killed", after_unit=kill)
    assert not (tmp_path / "killed" / "results.json").exists()
    done = sorted(p.name for p in (tmp_path / "killed" / "units").glob("*.json"))
    assert done == ["chunk-0000.json", "chunk-0001.json"]
    resumed = run_study(study(phantoms, vae="codec-down2"), tmp_path / "killed")
    assert {k: v["value"] for k, v in resumed["metrics"].items()} == {k: v["value"] for k, v in whole["metrics"].items()}
    assert resumed["metrics"]["recon_ssim"]["ci95"] == whole["metrics"]["recon_ssim"]["ci95"]
    with pytest.raises(InputError, match="other settings"):
        run_study(study(phantoms, vae="codec-down8"), tmp_path / "killed")


def test_bad_input_names_the_file_and_writes_no_result(phantoms, tmp_path):
    import shutil

    from PIL import Image

    mixed = tmp_path / "mixed"
    shutil.copytree(phantoms / "images", mixed)
    Image.fromarray(np.zeros((40, 48), np.uint8)).save(mixed / "odd.png")
    with pytest.raises(InputError, match=r"odd\.png: image is 48×40 px, not 32×32"):
        run_study(study(phantoms, vae="codec-down2", images=str(mixed), labels=None, resize="none"),
                  tmp_path / "out1")
    assert not (tmp_path / "out1" / "results.json").exists()
    # the default resize brings it to the resolution instead
    ok = run_study(study(phantoms, vae="codec-down2", images=str(mixed), labels=None, bootstrap=0), tmp_path / "out2")
    assert ok["metrics"]["recon_rmse"]["n"]["effective"] == 13 and "recon_accuracy" not in ok["metrics"]
    assert ok["metrics"]["recon_rmse"]["details"]["resized_images"] == 1
    assert ok["metrics"]["recon_agreement"]["warnings"]

    no_columns = tmp_path / "labels.csv"
    no_columns.write_text("prompt_id,text\n" + "".join(f"{p.stem},x\n" for p in (phantoms / "images").glob("*.png")))
    with pytest.raises(InputError, match=f"{no_columns}: none of the label columns"):
        study(phantoms, vae="codec-down2", labels=str(no_columns))
    with pytest.raises(InputError, match=f"{phantoms / 'prompts.csv'}: no row for 1 image id"):
        study(phantoms, vae="codec-down2", images=str(mixed))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=f"{empty}: no images found"):
        study(phantoms, vae="codec-down2", images=str(empty))
    with pytest.raises(InputError, match="multiple of it"):
        study(phantoms, vae="codec-down8", resolution=36)


def test_the_cli_runs_the_study_and_score_refuses_its_metrics(phantoms, tmp_path, capsys):
    from cxrgen_bench.cli import main

    code = main(["study", "vae-reconstruction", "--vae", "codec-down8", "--images", str(phantoms / "images"),
                 "--labels", str(phantoms / "prompts.csv"), "--resolution", "32", "--backbones", "",
                 "--bootstrap", "0", "--profile", "calibration-phantom", "--out", str(tmp_path / "cli"), "--quiet"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["recon_rmse"] > 0 and not any(k.startswith("recon_fd") for k in printed)
    assert "vae-reconstruction" in STUDIES.names()
    with pytest.raises(CxrgenError, match="cxrgen-bench study vae-reconstruction"):
        METRICS.get("recon_ssim")({}, []).compute(None)


def test_settings_come_from_the_class_then_the_profile_block_then_the_caller(phantoms, tmp_path):
    profile = tmp_path / "recon.yaml"
    profile.write_text("extends: calibration-phantom\nname: recon-test\nversion: '1'\nmetrics:\n"
                       "  vae_reconstruction:\n    resolution: 16\n    chunk: 3\n    backbones: []\n")
    s = VAEReconstruction({"vae": "codec-down2", "images": str(phantoms / "images"), "resolution": 32}, str(profile))
    assert s.settings["resolution"] == 32 and s.settings["chunk"] == 3 and s.settings["backbones"] == []
    assert s.settings["threshold"] == 0.5 and s.settings["classifier"] == "phantom-evaluator"
    assert [u.id for u in s.units()] == ["chunk-0000", "chunk-0001", "chunk-0002", "chunk-0003"]
    default = VAEReconstruction({"vae": "codec-down2", "images": str(phantoms / "images")}, "calibration-phantom")
    # calibration-phantom's own metrics: vae_reconstruction: block (resolution 128, the phantom evaluator only)
    assert default.settings["resolution"] == 128 and default.settings["backbones"] == ["phantom-evaluator"]
    assert default.settings["bootstrap"] == 200 and default.settings["chunk"] == 64  # block, then the class


# --- review fixes ---------------------------------------------------------------------------------------
def test_chunks_shared_between_processes_give_the_numbers_of_one_process(phantoms, tmp_path):
    """torchrun / accelerate launch: the frechet unit reads every chunk's features, so it runs last, on rank 0."""
    one = run_study(study(phantoms, vae="codec-down2"), tmp_path / "one")
    shared = tmp_path / "shared"
    assert run_study(study(phantoms, vae="codec-down2"), shared, share=(1, 2)) is None
    # rank 1 ran its share of the chunks (1 of 0, 1, 2) and not the Fréchet unit, which needs chunks 0 and 2
    assert sorted(p.name for p in (shared / "units").glob("*.json")) == ["chunk-0001.json"]
    two = run_study(study(phantoms, vae="codec-down2"), shared, share=(0, 2), wait_s=0.01)
    assert {k: m["value"] for k, m in two["metrics"].items()} == {k: m["value"] for k, m in one["metrics"].items()}
    assert {k: m.get("ci95") for k, m in two["metrics"].items()} == {k: m.get("ci95") for k, m in one["metrics"].items()}
    assert two["run"]["settings"]["processes"] == 2 and "recon_fd[phantom-evaluator]" in two["metrics"]


def test_the_frechet_unit_says_whether_a_chunk_never_finished_or_lost_its_features(phantoms, tmp_path):
    from cxrgen_bench.studies.base import Unit

    s = study(phantoms, vae="codec-down2")
    frechet = next(u for u in s.units() if u.id == "frechet")
    assert frechet.final and not any(u.final for u in s.units() if u.id != "frechet")
    units = tmp_path / "fresh" / "units"
    with pytest.raises(InputError, match=r"chunk-0000\.json: chunk chunk-0000 has not finished.*re-run the study"):
        s.run_unit(frechet, units / "frechet")
    run_study(s, tmp_path / "done")
    (tmp_path / "done" / "units" / "chunk-0001" / "features.npz").unlink()
    with pytest.raises(InputError, match=r"features of the finished chunk chunk-0001 are missing; delete .*chunk-0001"):
        s.run_unit(Unit("frechet", 0, frechet.settings, final=True), tmp_path / "done" / "units" / "frechet")


@pytest.mark.parametrize("flag,value", [("--max-images", "-12"), ("--max-images", "-3"), ("--max-images", "0"),
                                        ("--bootstrap", "-5"), ("--chunk", "0"), ("--batch-size", "0")])
def test_counts_below_their_minimum_are_refused_by_the_cli(phantoms, tmp_path, capsys, flag, value):
    from cxrgen_bench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["study", "vae-reconstruction", "--vae", "codec-down2", "--images", str(phantoms / "images"),
              "--profile", "calibration-phantom", "--out", str(tmp_path / "cli"), "--quiet", flag, value])
    assert exc.value.code == 2 and flag in capsys.readouterr().err
    assert not (tmp_path / "cli" / "results.json").exists()


@pytest.mark.parametrize("setting,value", [("max_images", -12), ("max_images", -3), ("max_images", 0),
                                           ("max_images", True), ("bootstrap", -5), ("chunk", 0), ("batch_size", 0),
                                           ("max_images", 2.5)])
def test_counts_below_their_minimum_are_refused_by_the_python_api(phantoms, setting, value):
    with pytest.raises(InputError, match=f"{setting} \\(--{setting.replace('_', '-')}\\) must be"):
        study(phantoms, vae="codec-down2", **{setting: value})


def test_max_images_records_what_was_asked_for_beside_what_was_used(phantoms, tmp_path):
    capped = run_study(study(phantoms, vae="codec-down2", max_images=5, bootstrap=0), tmp_path / "five")
    assert all(m["n"] == {"requested": 5, "effective": 5} for m in capped["metrics"].values())
    assert not any(w for m in capped["metrics"].values() for w in m.get("warnings", []) if "max-images" in w)
    more = run_study(study(phantoms, vae="codec-down2", max_images=100, bootstrap=0), tmp_path / "hundred")
    for key, entry in more["metrics"].items():
        assert entry["n"] == {"requested": 100, "effective": 12}, key
        assert any("asked for more images" in w and "all 12 were used" in w for w in entry["warnings"]), key
    assert more["metrics"]["recon_rmse"]["details"]["selection"] == {"max_images": 100, "available": 12, "used": 12,
                                                                    "order": "sorted by (id, sample index)"}
    assert more["subject"]["data"]["n_requested"] == 100 and more["subject"]["data"]["n_used"] == 12


def test_the_change_of_accuracy_and_f1_has_a_paired_ci(phantoms, tmp_path):
    from cxrgen_bench.functional.bootstrap import resample_weights

    s = study(phantoms, vae="codec-down8", bootstrap=200)
    result = run_study(s, tmp_path / "out")
    units = [json.loads((tmp_path / "out" / "units" / f"chunk-000{i}.json").read_text())["outputs"] for i in range(3)]
    pred_o = np.concatenate([np.asarray(u["probs_original"]) for u in units]) >= 0.5
    pred_r = np.concatenate([np.asarray(u["probs_reconstruction"]) for u in units]) >= 0.5
    classes = units[0]["classes"]
    labels = {row["prompt_id"]: row for row in __import__("csv").DictReader(open(phantoms / "prompts.csv"))}
    ids = [i for u in units for i in u["ids"]]
    # uncertain (−1) counts as positive, blank as absent: the study's label policy
    truth = np.array([[1.0 if labels[i][c] in ("1", "1.0", "-1", "-1.0") else 0.0 for c in classes] for i in ids])
    weights = resample_weights(12, 200, 0)
    for metric in ("recon_accuracy", "recon_f1"):
        details = result["metrics"][metric]["details"]
        macro = details["difference_macro"]
        # independently: each replicate's images repeated by their multiplicity, scored by scikit-learn
        from sklearn.metrics import accuracy_score, f1_score

        score = accuracy_score if metric == "recon_accuracy" else lambda t, p: f1_score(t, p, zero_division=np.nan)

        def macro_of(pred, idx):
            return [score(truth[idx, j], pred[idx, j]) for j in range(len(classes))]

        point = np.array(macro_of(pred_r, slice(None))) - np.array(macro_of(pred_o, slice(None)))
        defined = np.isfinite(point)
        assert macro["difference"] == pytest.approx(float(point[defined].mean()), abs=1e-12)
        reps = []
        for w in weights:
            idx = np.repeat(np.arange(12), w)
            d = np.array(macro_of(pred_r, idx))[defined] - np.array(macro_of(pred_o, idx))[defined]
            reps.append(np.nanmean(d) if np.isfinite(d).any() else np.nan)
        reps = np.asarray(reps)
        reps = reps[np.isfinite(reps)]
        reps = reps - reps.mean() + macro["difference"]
        np.testing.assert_allclose(macro["ci95"], np.quantile(reps, [0.025, 0.975]), atol=1e-12)
        assert macro["ci95"][0] <= macro["difference"] <= macro["ci95"][1]
        for c, diff in details["difference_per_class"].items():
            if diff is not None:
                assert diff["difference"] == pytest.approx(details["per_class"][c] - details["original_per_class"][c])


def test_summarise_follows_the_studys_unit_order_and_keeps_no_state(phantoms, tmp_path):
    s = study(phantoms, vae="codec-down2", chunk=4)
    result = run_study(s, tmp_path / "out")
    outputs = {u.id: json.loads((tmp_path / "out" / "units" / f"{u.id}.json").read_text())["outputs"] for u in s.units()}
    # chunks 9999, 10000, 10001 of a big run, in the study's order: sorting their ids would put 9999 last
    renamed = dict(zip(["chunk-9999", "chunk-10000", "chunk-10001", "frechet"], outputs.values()))
    before = set(vars(s))
    entries = {e.key: e.to_json() for e in s.summarise(renamed)}
    assert set(vars(s)) == before  # the bootstrap weights are passed along, not kept on the study
    for key, entry in result["metrics"].items():
        assert entries[key]["value"] == entry["value"] and entries[key].get("ci95") == entry.get("ci95"), key
        assert entries[key].get("bootstrap", {}).get("units_sha256") == entry.get("bootstrap", {}).get("units_sha256")


def test_the_diffusers_folder_is_checked_once_and_its_own_errors_pass_through(tiny_vae, tmp_path, monkeypatch):
    import cxrgen_bench.models.autoencoders as ae

    calls = []
    real = ae.check_model_folder
    monkeypatch.setattr(ae, "check_model_folder", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    ae.DiffusersAutoencoder(str(tiny_vae[0]))
    assert calls == [tiny_vae[0] / "vae"]
    broken = tmp_path / "broken"
    tiny_vae[1].save_pretrained(broken, safe_serialization=True)
    (broken / "config.json").write_text("{not json")
    with pytest.raises(InputError, match=r"config\.json: not valid JSON") as exc:
        ae.DiffusersAutoencoder(str(broken))
    assert "no *.safetensors" not in str(exc.value)


def test_square_is_the_shorter_side_then_the_centre_crop():
    from cxrgen_bench.functional.resize import clean_resize, square

    rng = np.random.default_rng(0)
    tall = (rng.random((40, 24)) * 255).astype(np.float32)
    # shorter side already at the size: no resampling, only the centre rows (offset round(16 / 2) = 8)
    np.testing.assert_array_equal(square(tall, 24), tall[8:32])
    wide = (rng.random((32, 64)) * 255).astype(np.float32)
    np.testing.assert_allclose(square(wide, 16), clean_resize(wide, (16, 32))[:, 8:24], rtol=0, atol=1e-4)
