"""The memorisation study: exact blocked nearest neighbours, float pixel distances (never uint8
wrap-around), every sample matched by its own id, the calibrated threshold, the known answer on
phantoms, the re-identification plug-in with random weights, resume, and bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cxrgen_bench.cli import main
from cxrgen_bench.errors import InputError, WeightsError
from cxrgen_bench.evaluation.context import RunOptions
from cxrgen_bench.functional.nearest import brute_force, nearest_neighbours
from cxrgen_bench.studies import run_study
from cxrgen_bench.studies.memorisation import MemorisationStudy, quick_known_answer, share_statistics


def save(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = pixels if pixels.dtype == np.uint8 else np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path


def folder(root: Path, images: dict[str, np.ndarray]) -> Path:
    for name, pixels in images.items():
        save(root / f"{name}.png", pixels)
    return root


def study(tmp: Path, train: Path, held: Path, gen: Path, **settings) -> MemorisationStudy:
    base = {"train": str(train), "held_out": str(held), "images": str(gen), "spaces": ["pixel"], "pixel_size": 16,
            "quantile": 0.25, "min_held_out": 4, "bootstrap": 50}
    return MemorisationStudy({**base, **settings}, "calibration-phantom", RunOptions())


def run(tmp: Path, name: str, **kwargs) -> dict:
    s = study(tmp, **kwargs)
    return run_study(s, tmp / name)


@pytest.fixture
def small(tmp_path) -> dict[str, Path]:
    """8 training, 20 held-out random 16×16 images; 3 prompts × 2 samples, two of them training copies."""
    rng = np.random.default_rng(7)
    train = {f"t{i}": rng.random((16, 16)) for i in range(8)}
    held = {f"h{i}": rng.random((16, 16)) for i in range(20)}
    gen = {"p0_0": train["t3"], "p0_1": rng.random((16, 16)), "p1_0": rng.random((16, 16)),
           "p1_1": train["t6"], "p2_0": rng.random((16, 16)), "p2_1": 0.5 * train["t1"] + 0.5 * rng.random((16, 16))}
    return {"train": folder(tmp_path / "train", train), "held": folder(tmp_path / "held", held),
            "gen": folder(tmp_path / "gen", gen), "arrays": train}


# --- the search ---------------------------------------------------------------------------------

@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("k,blocks", [(1, (7, 13)), (3, (1, 5)), (4, (50, 1000)), (2, (64, 97))])
def test_blocked_search_equals_brute_force(metric, k, blocks):
    rng = np.random.default_rng(0)
    refs = rng.normal(size=(211, 24)).astype(np.float32)
    queries = rng.normal(size=(53, 24)).astype(np.float32)
    queries[5] = refs[100]  # an exact copy: distance exactly 0, not a rounding residue of ||a||²−2ab+||b||²
    got = nearest_neighbours(queries, refs, k=k, metric=metric, query_block=blocks[0], reference_block=blocks[1])
    want = brute_force(queries, refs, k=k, metric=metric)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_allclose(got.distances, want.distances, rtol=1e-12, atol=1e-12)
    assert got.indices[5, 0] == 100 and got.distances[5, 0] == 0.0


def test_blocked_search_agrees_with_sklearn_and_breaks_ties_by_lowest_index():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(1)
    refs = rng.random((300, 40))
    queries = rng.random((20, 40))
    dist, idx = NearestNeighbors(n_neighbors=2).fit(refs).kneighbors(queries)
    got = nearest_neighbours(queries, refs, k=2, query_block=6, reference_block=32)
    np.testing.assert_array_equal(got.indices, idx)
    np.testing.assert_allclose(got.distances, dist, rtol=1e-10)
    dup = np.vstack([refs[:10], refs[:10]])  # each vector twice, in different blocks
    assert (nearest_neighbours(refs[:10], dup, reference_block=7).indices[:, 0] == np.arange(10)).all()


def test_search_refuses_what_it_cannot_answer():
    with pytest.raises(ValueError, match="empty"):
        nearest_neighbours(np.zeros((2, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="k = 5"):
        nearest_neighbours(np.ones((2, 3)), np.ones((4, 3)), k=5)
    with pytest.raises(ValueError, match="reference vector 1 is all zeros"):
        nearest_neighbours(np.ones((2, 3)), np.array([[1.0, 0, 0], [0, 0, 0]]), metric="cosine")


def test_threshold_is_calibrated_so_a_fresh_real_sample_scores_q():
    rng = np.random.default_rng(3)
    train, held, fresh = (rng.normal(size=(n, 6)) for n in (3000, 4000, 4000))
    held_d = nearest_neighbours(held, train).distances[:, 0]
    fresh_d = nearest_neighbours(fresh, train).distances[:, 0]
    for q in (0.05, 0.2):
        stats = share_statistics(fresh_d, held_d, np.arange(len(fresh_d)), len(fresh_d), q)
        assert stats["held_out_share"] == pytest.approx(q, abs=1 / len(held_d))  # by construction
        # a non-memorising "generator": share ≈ q (sd ≈ 0.005–0.01 here, from the threshold's estimate and the sample)
        assert stats["share"] == pytest.approx(q, abs=0.02)
    copies = train[:100] + rng.normal(0, 1e-3, (100, 6))
    copy_d = nearest_neighbours(copies, train).distances[:, 0]
    assert share_statistics(copy_d, held_d, np.arange(100), 100, 0.05)["share"] == 1.0


# --- pixels -------------------------------------------------------------------------------------

def test_pixel_distance_is_float_never_uint8_wraparound(tmp_path):
    const = lambda v: np.full((16, 16), v, np.uint8)  # noqa: E731
    train = folder(tmp_path / "train", {f"t{v}": const(v) for v in (128, 200, 230, 250)})
    held = folder(tmp_path / "held", {f"h{v}": const(v) for v in (100, 140, 180, 220)})
    gen = folder(tmp_path / "gen", {"p0_0": const(5)})
    # uint8 differences wrap: 5 − 250 = 11 would make the brightest image the "nearest"
    assert (np.array([5], np.uint8) - np.array([250], np.uint8))[0] == 11
    result = run(tmp_path, "out", train=train, held=held, gen=gen, top_pairs=1)
    pair = result["metrics"]["memorisation_share[pixel]"]["details"]["top_pairs"][0]
    assert pair["training"] == "t128.png"
    assert pair["distance"] == pytest.approx(123 / 255, abs=1e-6)


def test_every_sample_is_matched_by_its_own_id(tmp_path):
    rng = np.random.default_rng(2)
    train = {f"t{i}": rng.random((16, 16)) for i in range(8)}
    # sample k of prompt p copies a different training image for every (p, k): reading only sample 0,
    # or pairing prompts with the wrong sample, would miss or mismatch them
    copies = {"p0_0": "t3", "p0_1": "t5", "p1_0": "t1", "p1_1": "t6", "p1_2": "t0"}
    gen = folder(tmp_path / "gen", {g: train[t] for g, t in copies.items()})
    held = folder(tmp_path / "held", {f"h{i}": rng.random((16, 16)) for i in range(4)})
    result = run(tmp_path, "out", train=folder(tmp_path / "train", train), held=held, gen=gen, top_pairs=10)
    entry = result["metrics"]["memorisation_share[pixel]"]
    pairs = {p["generated"]: (p["training"], p["distance"]) for p in entry["details"]["top_pairs"]}
    assert pairs == {f"{g[:2]}/{g[3:]}": (f"{t}.png", 0.0) for g, t in copies.items()}
    assert entry["value"] == 1.0 and entry["n"] == {"requested": 5, "effective": 5}


def test_pinned_values_and_training_order_invariance(small, tmp_path):
    result = run(tmp_path, "a", train=small["train"], held=small["held"], gen=small["gen"])
    m = result["metrics"]
    share, details = m["memorisation_share[pixel]"], m["memorisation_share[pixel]"]["details"]
    assert details["threshold"] == pytest.approx(PINNED["threshold"], abs=1e-6)
    assert share["value"] == pytest.approx(PINNED["share"])  # two exact copies, the half-copy, one chance hit
    from scipy.spatial.distance import cdist

    read = lambda d: np.stack([np.asarray(Image.open(f), np.float64).ravel() / 255  # noqa: E731
                               for f in sorted(small[d].glob("*.png"))])
    rmse = cdist(read("held"), read("train")).min(1) / 16  # independent: RMSE over 16×16 pixels
    assert details["threshold"] == pytest.approx(np.quantile(rmse, 0.25), abs=1e-7)  # canonical pixels are float32
    assert m["memorisation_ratio[pixel]"]["value"] == pytest.approx(PINNED["share"] / 0.25)
    assert m["memorisation_distance[pixel]"]["value"] == pytest.approx(PINNED["median"], abs=1e-6)
    assert share["ci95"][0] <= share["value"] <= share["ci95"][1]
    assert details["n"] == {"train": 8, "held_out": 20, "generated": 6, "prompts": 3}
    assert (tmp_path / "a" / details["grid"]).is_file()
    # the same training images under other names, in another order: the same numbers
    shuffled = tmp_path / "train-shuffled"
    names = list(small["arrays"])
    for new, old in zip(reversed(names), names):
        save(shuffled / f"x-{new}.png", small["arrays"][old])
    again = run(tmp_path, "b", train=shuffled, held=small["held"], gen=small["gen"])
    for key, entry in m.items():
        assert again["metrics"][key]["value"] == entry["value"]
        assert again["metrics"][key].get("ci95") == entry.get("ci95")
    units = [json.loads((tmp_path / d / "units" / "pixel.json").read_text())["outputs"] for d in "ab"]
    assert units[0]["generated"]["distance"] == units[1]["generated"]["distance"]


# Computed by this implementation on the fixture above (seeded); the threshold is also checked against
# scipy on the PNGs read by PIL, in the test.
PINNED = {"threshold": 0.38229146527976376, "share": 4 / 6, "median": 0.2847328397199582}


def test_training_images_of_another_resolution_are_resized_and_recorded(small, tmp_path):
    big = tmp_path / "train-big"
    for name, pixels in small["arrays"].items():  # 48×48 copies of the 16×16 training images
        save(big / f"{name}.png", np.kron(pixels, np.ones((3, 3))))
    result = run(tmp_path, "out", train=big, held=small["held"], gen=small["gen"])
    entry = result["metrics"]["memorisation_share[pixel]"]
    coercions = entry["details"]["coercions"]
    assert coercions["source_sizes"]["train"] == {"48x48": 8} and coercions["resized_to"] == [16, 16]
    assert any("differ in size" in w for w in entry["warnings"])
    exact = {p["generated"]: p for p in entry["details"]["top_pairs"]}
    # bicubic down-sampling does not undo the 3× blow-up of noise exactly, but the copy stays the nearest and flagged
    assert exact["p0/0"]["training"] == "t3.png" and exact["p0/0"]["below_threshold"]


# --- known answer -------------------------------------------------------------------------------

def test_known_answer_copies_are_flagged_and_faithful_phantoms_are_not(tmp_path):
    results = quick_known_answer(tmp_path, n_train=80, n_held_out=40, n_prompts=16, samples=2)
    for space in ("pixel", "phantom-evaluator"):
        copies = results["phantom-copies-training"]["metrics"][f"memorisation_share[{space}]"]
        faithful = results["phantom-faithful"]["metrics"][f"memorisation_share[{space}]"]
        assert copies["value"] == 1.0 and copies["ci95"][0] > 0.5
        assert results["phantom-copies-training"]["metrics"][f"memorisation_ratio[{space}]"]["value"] == 20.0
        assert faithful["value"] <= 0.2 and faithful["ci95"][0] <= 0.05  # consistent with q = 0.05
        assert all(p["below_threshold"] for p in copies["details"]["top_pairs"])
        grid = tmp_path / "memorisation-phantom-copies-training" / copies["details"]["grid"]
        assert Image.open(grid).size[0] > 0


# --- the re-identification plug-in ----------------------------------------------------------------

@pytest.fixture(scope="module")
def reid_weights(tmp_path_factory) -> Path:
    """Random weights in the Packhäuser et al. format: `model.*` (ResNet-50, fc 2048→n) and `fc_end.*`."""
    from safetensors.torch import save_file

    from cxrgen_bench.models.image.reid_siamese import SiameseReID

    torch.manual_seed(0)
    net = SiameseReID(n_features=32)
    path = tmp_path_factory.mktemp("reid") / "reid.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    assert any(k.startswith("model.layer4.") for k in net.state_dict()) and "fc_end.weight" in net.state_dict()
    return path


def test_reid_backbone_loads_the_format_and_scores_pairs(reid_weights, small, tmp_path):
    from cxrgen_bench.models.image import build_backbone

    net = build_backbone("reid-siamese", {}, weights=str(reid_weights))
    image = np.random.default_rng(0).random((40, 40)).astype(np.float32)
    feats = net.features([net.preprocess(image), net.preprocess(image[::-1].copy())], "embedding")
    assert feats.shape == (2, 32) and ((feats >= 0) & (feats <= 1)).all() and not np.allclose(feats[0], feats[1])
    same = net.pair_score(feats[:1], feats[:1])[0]
    bias = float(net.model.fc_end.bias.detach()[0])
    assert same == pytest.approx(1 / (1 + np.exp(-bias)), abs=1e-6)  # |e − e| = 0: the score is σ(bias)
    # a ResNet-50 at 256² is slow on a CPU: a few images suffice
    rng = np.random.default_rng(5)
    train = {f"t{i}": rng.random((16, 16)) for i in range(3)}
    held = folder(tmp_path / "held4", {f"h{i}": rng.random((16, 16)) for i in range(4)})
    gen = folder(tmp_path / "gen2", {"p0_0": train["t1"], "p0_1": rng.random((16, 16))})
    result = run(tmp_path, "out", train=folder(tmp_path / "train3", train), held=held, gen=gen,
                 spaces=["reid-siamese"], weights={"reid-siamese": str(reid_weights)}, top_pairs=2)
    entry = result["metrics"]["memorisation_share[reid-siamese]"]
    assert entry["details"]["encoder"]["sha256"] and "generated_share_above" in entry["details"]["pair_score"]
    assert all(0 < p["pair_score"] < 1 for p in entry["details"]["top_pairs"])
    assert entry["details"]["top_pairs"][0]["distance"] == pytest.approx(0, abs=1e-9)  # an exact copy


def test_reid_without_weights_names_the_file_to_place(small, tmp_path):
    s = study(tmp_path, small["train"], small["held"], small["gen"], spaces=["reid-siamese"])
    with pytest.raises(WeightsError, match="(?s)no weights found for backbone .reid-siamese.*reid-siamese.safetensors"):
        run_study(s, tmp_path / "out")


# --- resume, CLI, profile, bad input --------------------------------------------------------------

def test_study_resumes_after_a_kill_to_the_same_numbers(small, tmp_path, capsys):
    args = ["study", "memorisation", "--train", str(small["train"]), "--held-out", str(small["held"]),
            "--images", str(small["gen"]), "--spaces", "pixel,phantom-evaluator", "--profile", "calibration-phantom",
            "--quantile", "0.25", "--pixel-size", "16", "--bootstrap", "40", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "straight")]) == 0

    def killed(unit):
        raise RuntimeError(f"killed after {unit.id}")

    s = MemorisationStudy({"train": str(small["train"]), "held_out": str(small["held"]), "images": str(small["gen"]),
                           "spaces": ["pixel", "phantom-evaluator"], "quantile": 0.25, "pixel_size": 16,
                           "bootstrap": 40, "top_pairs": None, "weights": {}}, "calibration-phantom")
    with pytest.raises(RuntimeError, match="killed after pixel"):
        run_study(s, tmp_path / "killed", after_unit=killed)
    assert (tmp_path / "killed" / "units" / "pixel.json").is_file()
    assert not (tmp_path / "killed" / "units" / "phantom-evaluator.json").exists()
    assert main([*args, "--out", str(tmp_path / "killed")]) == 0
    straight, resumed = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("straight", "killed"))
    assert resumed["metrics"] == straight["metrics"]
    assert set(straight["metrics"]) == {f"{m}[{s}]" for m in ("memorisation_share", "memorisation_ratio",
                                                               "memorisation_distance")
                                         for s in ("pixel", "phantom-evaluator")}


def test_profile_block_sets_defaults_and_flags_override_it(small, tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text("extends: calibration-phantom\nname: p\nversion: '1'\n"
                       "metrics:\n  memorisation_share:\n    quantile: 0.2\n    pixel_size: 8\n")
    s = MemorisationStudy({"train": str(small["train"]), "held_out": str(small["held"]), "images": str(small["gen"]),
                           "min_held_out": 4, "pixel_size": 16}, str(profile))
    assert s.settings["quantile"] == 0.2 and s.settings["pixel_size"] == 16 and s.settings["top_pairs"] == 16
    profile.write_text("extends: calibration-phantom\nname: p\nversion: '1'\n"
                       "metrics:\n  memorisation_share:\n    quantil: 0.2\n")
    with pytest.raises(InputError, match="unknown setting.*quantil"):
        MemorisationStudy({"train": "a", "held_out": "b", "images": "c"}, str(profile))


def test_bad_input_names_the_folder(small, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"training set \(--train\): .*empty: no images found"):
        run(tmp_path, "o1", train=empty, held=small["held"], gen=small["gen"])
    with pytest.raises(InputError, match=r"generated images \(--images\): .*nowhere: image folder not found"):
        run(tmp_path, "o2", train=small["train"], held=small["held"], gen=tmp_path / "nowhere")
    with pytest.raises(InputError, match=r"held-out real images .*held has 20 image\(s\).*needs at least 30"):
        run(tmp_path, "o3", train=small["train"], held=small["held"], gen=small["gen"], min_held_out=30)
    with pytest.raises(InputError, match="space 'nope' is neither"):
        run(tmp_path, "o4", train=small["train"], held=small["held"], gen=small["gen"], spaces=["nope"])
    with pytest.raises(InputError, match="quantile must lie in"):
        run(tmp_path, "o5", train=small["train"], held=small["held"], gen=small["gen"], quantile=1.5)
    assert main(["study", "memorisation", "--train", str(empty), "--held-out", str(small["held"]), "--images",
                 str(small["gen"]), "--out", str(tmp_path / "o6"), "--quiet"]) == 2


# --- review fixes ---------------------------------------------------------------------------------

def test_held_out_files_identical_to_training_files_are_refused_or_dropped_and_recorded(small, tmp_path):
    import shutil

    held = tmp_path / "held-overlap"
    shutil.copytree(small["held"], held)
    for name in ("t3", "t6"):  # two training files copied into the held-out folder under other names
        shutil.copy(small["train"] / f"{name}.png", held / f"copy-of-{name}.png")
    with pytest.raises(InputError, match=r"(?s)2 held-out image\(s\) are training images.*copy-of-t3\.png = "
                                         r".*t3\.png.*--drop-held-out-overlap"):
        run(tmp_path, "refused", train=small["train"], held=held, gen=small["gen"])
    assert not (tmp_path / "refused" / "units").exists() and not (tmp_path / "refused" / "results.json").exists()
    clean = run(tmp_path, "clean", train=small["train"], held=small["held"], gen=small["gen"])
    dropped = run(tmp_path, "dropped", train=small["train"], held=held, gen=small["gen"], drop_held_out_overlap=True)
    for key, entry in clean["metrics"].items():  # calibrated on exactly the clean held-out set
        assert dropped["metrics"][key]["value"] == entry["value"] and dropped["metrics"][key]["ci95"] == entry["ci95"]
    details = dropped["metrics"]["memorisation_share[pixel]"]["details"]
    assert details["n"]["held_out"] == 20 and details["threshold"] > 0
    assert [(Path(d["held_out"]).name, Path(d["training"]).name, d["reason"]) for d in details["held_out_dropped"]] == [
        ("copy-of-t3.png", "t3.png", "identical file (sha256)"), ("copy-of-t6.png", "t6.png", "identical file (sha256)")]
    warnings = dropped["metrics"]["memorisation_share[pixel]"]["warnings"]
    assert any("dropped from the threshold's calibration" in w for w in warnings)
    assert dropped["subject"]["settings"]["drop_held_out_overlap"] is True


def test_held_out_images_at_distance_zero_are_refused_or_dropped(small, tmp_path):
    import shutil

    held = tmp_path / "held-reencoded"
    shutil.copytree(small["held"], held)
    # the same pixels in another file (no compression): not the same sha256, the same image
    Image.fromarray(np.clip(np.rint(small["arrays"]["t5"] * 255), 0, 255).astype(np.uint8)).save(
        held / "t5-again.png", compress_level=0)
    assert (held / "t5-again.png").read_bytes() != (small["train"] / "t5.png").read_bytes()
    with pytest.raises(InputError, match=r"(?s)1 held-out image\(s\) are at distance 0 from a training image in space "
                                         r"pixel, e\.g\. .*t5-again\.png = .*t5\.png"):
        run(tmp_path, "refused", train=small["train"], held=held, gen=small["gen"])
    assert not (tmp_path / "refused" / "results.json").exists()
    dropped = run(tmp_path, "dropped", train=small["train"], held=held, gen=small["gen"], drop_held_out_overlap=True)
    clean = run(tmp_path, "clean", train=small["train"], held=small["held"], gen=small["gen"])
    details = dropped["metrics"]["memorisation_share[pixel]"]["details"]
    assert [(Path(d["held_out"]).name, d["reason"]) for d in details["held_out_dropped"]] == [
        ("t5-again.png", "distance 0 in space pixel")]
    assert details["threshold"] == clean["metrics"]["memorisation_share[pixel]"]["details"]["threshold"]
    assert details["n"]["held_out"] == 20


def test_dropping_overlap_still_needs_enough_held_out_images(small, tmp_path):
    import shutil

    held = tmp_path / "held-small"
    held.mkdir()
    for name in sorted(small["held"].glob("*.png"))[:3]:
        shutil.copy(name, held / name.name)
    shutil.copy(small["train"] / "t1.png", held / "copy.png")
    with pytest.raises(InputError, match=r"3 image\(s\) left after dropping .*needs at least 4"):
        run(tmp_path, "o", train=small["train"], held=held, gen=small["gen"], drop_held_out_overlap=True)


def test_non_square_training_images_are_centre_cropped_as_in_training(tmp_path):
    rng = np.random.default_rng(4)
    wide = rng.random((16, 24))  # a landscape training image; its model was trained on the centre 16×16
    train = folder(tmp_path / "train", {"wide": wide, **{f"t{i}": rng.random((16, 16)) for i in range(5)}})
    held = folder(tmp_path / "held", {f"h{i}": rng.random((16, 16)) for i in range(4)})
    gen = folder(tmp_path / "gen", {"p0_0": wide[:, 4:20], "p1_0": rng.random((16, 16))})
    result = run(tmp_path, "out", train=train, held=held, gen=gen, top_pairs=1)
    entry = result["metrics"]["memorisation_share[pixel]"]
    # a copy of the crop is an exact copy (a stretched 24 → 16 wide image would be far from it)
    assert entry["details"]["top_pairs"][0] == {**entry["details"]["top_pairs"][0], "generated": "p0/0",
                                                "training": "wide.png", "distance": 0.0, "below_threshold": True}
    coercions = entry["details"]["coercions"]
    assert coercions["centre_cropped"]["train"] == 1 and "centre crop" in coercions["method"]


def test_weights_flags_are_parsed_by_the_shared_parser_and_counts_are_checked(small, tmp_path, capsys):
    import argparse

    args = argparse.Namespace(train="t", held_out="h", images="g", spaces="pixel", quantile=None, pixel_size=None,
                              bootstrap=None, top_pairs=None, drop_held_out_overlap=None,
                              weights=[" reid-siamese = reid.safetensors "])
    assert MemorisationStudy.settings_from_args(args)["weights"] == {"reid-siamese": "reid.safetensors"}
    with pytest.raises(InputError, match="--weights 'reid-siamese'.*BACKBONE=PATH"):
        MemorisationStudy.settings_from_args(argparse.Namespace(**{**vars(args), "weights": ["reid-siamese"]}))
    with pytest.raises(InputError, match=r"bootstrap \(--bootstrap\) must be 0 or more, not -5"):
        study(tmp_path, small["train"], small["held"], small["gen"], bootstrap=-5)
    with pytest.raises(SystemExit) as exc:
        main(["study", "memorisation", "--train", str(small["train"]), "--held-out", str(small["held"]), "--images",
              str(small["gen"]), "--bootstrap", "-5", "--out", str(tmp_path / "o"), "--quiet"])
    assert exc.value.code == 2 and "--bootstrap" in capsys.readouterr().err


def test_a_refused_run_leaves_nothing_that_blocks_the_corrected_one(small, tmp_path):
    """Doing what the refusal advises (--drop-held-out-overlap) in the same --out works (issue 30)."""
    import shutil

    held = tmp_path / "held-overlap"
    shutil.copytree(small["held"], held)
    shutil.copy(small["train"] / "t3.png", held / "copy-of-t3.png")
    with pytest.raises(InputError, match="--drop-held-out-overlap"):
        run(tmp_path, "same", train=small["train"], held=held, gen=small["gen"])
    assert not (tmp_path / "same" / "study.json").exists()
    corrected = run(tmp_path, "same", train=small["train"], held=held, gen=small["gen"], drop_held_out_overlap=True)
    assert corrected["status"] == "complete" and corrected["subject"]["settings"]["drop_held_out_overlap"] is True
