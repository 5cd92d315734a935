"""CheXGenBench's image metrics, each against an independent implementation: the Inception Score
against torchmetrics' (the class CheXGenBench calls), FRD against its code's steps written out (pandas,
numpy's global generator, scipy's sqrtm), the radiomic features against pyradiomics called as
CheXGenBench calls it, on real radiographs; the Inception's classifier layer in NVIDIA's format."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cxrgen_bench.data.images import read_image
from cxrgen_bench.errors import InputError, MetricError, WeightsError
from cxrgen_bench.functional.inception_score import inception_score
from cxrgen_bench.functional.radiomics_distance import frechet_radiomics_distance
from cxrgen_bench.models.image import build_backbone
from cxrgen_bench.profiles import get_profile

PROFILE = get_profile("chexgenbench2025")


# --- Inception Score ------------------------------------------------------------------------------

def test_inception_score_matches_torchmetrics():
    torchmetrics_inception = pytest.importorskip("torchmetrics.image.inception")
    logits = torch.randn(37, 50, generator=torch.Generator().manual_seed(0)) * 3

    class Given(torch.nn.Module):  # torchmetrics' custom-feature route: the module returns (N, d)
        def forward(self, x):
            return x

    metric = torchmetrics_inception.InceptionScore(feature=Given(), splits=10)
    metric.update(logits)
    torch.manual_seed(5)
    theirs_mean, theirs_std = metric.compute()
    torch.manual_seed(5)
    order = torch.randperm(len(logits)).numpy()  # the permutation their compute draws
    mean, std, per_split = inception_score(logits.numpy(), 10, order)
    assert len(per_split) == 10  # ⌈37/10⌉ = 4 per chunk, 10 chunks (the last of 1)
    assert mean == pytest.approx(float(theirs_mean), rel=1e-5)
    assert std == pytest.approx(float(theirs_std), rel=1e-4)


def test_inception_score_known_values():
    one_hot = np.eye(8)[np.arange(80) % 8] * 50.0  # confident, evenly spread over 8 classes
    assert inception_score(one_hot, splits=1)[0] == pytest.approx(8.0, rel=1e-6)
    assert inception_score(np.zeros((20, 5)), splits=2)[0] == pytest.approx(1.0)
    assert inception_score(np.ones((25, 4)), splits=10)[2].shape == (9,)  # torch.chunk: 9 chunks of ≤ 3
    with pytest.raises(InputError):
        inception_score(np.full((4, 3), np.nan))


def test_inception_score_invariances_and_pinned_value():
    """One chunk: the order of the images and the order of the classes do not matter; a pinned value on
    seeded logits (mean and std over 4 chunks)."""
    x = np.random.default_rng(3).normal(0, 2, (40, 7))
    whole = inception_score(x, splits=1)[0]
    assert inception_score(x[::-1], splits=1)[0] == pytest.approx(whole, rel=1e-12)
    assert inception_score(x[:, ::-1], splits=1)[0] == pytest.approx(whole, rel=1e-12)
    assert inception_score(x + 5.0, splits=1)[0] == pytest.approx(whole, rel=1e-12)  # softmax ignores a shift
    assert inception_score(x, splits=4)[:2] == pytest.approx((2.142967348859623, 0.16927089577062435), rel=1e-9)


# --- FRD ------------------------------------------------------------------------------------------

def their_frd(real: np.ndarray, synthetic: np.ndarray) -> float:
    """metrics/frd.py after the radiomics CSVs are read: dropna, match counts with the global generator seeded
    42, z-score by the real set, drop non-finite columns, np.cov + scipy sqrtm Fréchet distance, log."""
    import pandas as pd
    from scipy import linalg

    f1 = pd.DataFrame(real).dropna().to_numpy().astype(np.float32)
    f2 = pd.DataFrame(synthetic).dropna().to_numpy().astype(np.float32)
    np.random.seed(42)
    if f1.shape[0] > f2.shape[0]:
        f1 = f1[np.random.choice(f1.shape[0], f2.shape[0], replace=False)]
    elif f2.shape[0] > f1.shape[0]:
        f2 = f2[np.random.choice(f2.shape[0], f1.shape[0], replace=False)]
    mean, std = f1.astype(np.float64).mean(0), f1.astype(np.float64).std(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1, f2 = (f1 - mean) / std, (f2 - mean) / std
    bad = ~np.isfinite(f1).all(0) | ~np.isfinite(f2).all(0)
    f1, f2 = f1[:, ~bad], f2[:, ~bad]
    m1, m2, s1, s2 = f1.mean(0), f2.mean(0), np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(np.log((m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)))


def test_frd_follows_chexgenbench_steps():
    rng = np.random.default_rng(0)
    real = rng.normal(3, 2, (60, 12)).astype(np.float32)
    synthetic = (rng.normal(3.5, 2.5, (45, 12))).astype(np.float32)
    real[:, 4] = 7.0  # a constant feature (a mask's voxel count): z-scoring makes it NaN, both drop it
    real[5, 2] = np.nan  # pyradiomics left a value out: the row goes
    synthetic[3, 0] = np.nan
    ours = frechet_radiomics_distance(real, synthetic, match_sizes=True, seed=42)
    assert ours["features_dropped"] == 1 and ours["n"] == {"reference": 44, "generated": 44}
    assert ours["value"] == pytest.approx(their_frd(real, synthetic), rel=1e-5)
    assert ours["value"] == pytest.approx(math.log(ours["frechet"]))
    assert ours["value"] == pytest.approx(1.3289317497534945, rel=1e-9)  # pinned


def test_frd_invariants():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(200, 6))
    assert frechet_radiomics_distance(a, a, match_sizes=False, log=False)["value"] == pytest.approx(0, abs=1e-9)
    with pytest.raises(MetricError, match="logarithm is undefined"):  # said, not -inf
        frechet_radiomics_distance(a, a, match_sizes=False)
    with pytest.raises(MetricError, match="at least 2 images per set"):  # too few: said, not a number
        frechet_radiomics_distance(a[:1], a[:5])
    shifted = frechet_radiomics_distance(a, a + 1.0, match_sizes=False)
    scaled = frechet_radiomics_distance(a * 10, a * 10 + 10.0, match_sizes=False)  # z-scored: scale-free
    assert shifted["value"] == pytest.approx(scaled["value"], rel=1e-9)


# --- radiomic features ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_radiographs(real_cxr_jpegs):
    return [p for p in real_cxr_jpegs if "bacteria_4874" in p.name or "bacteria_4875" in p.name]


def test_radiomic_features_equal_pyradiomics_called_as_chexgenbench_calls_it(two_radiographs, tmp_path):
    pd = pytest.importorskip("pandas")
    sitk = pytest.importorskip("SimpleITK")
    featureextractor = pytest.importorskip("radiomics.featureextractor")
    from PIL import Image

    cfg = PROFILE.backbone("pyradiomics")
    rows = []
    for path in two_radiographs:  # radiomics_utils.compute_and_save_imagefolder_radiomics, written out
        img_slice = np.asarray(Image.open(path).convert("L")).copy()
        mask_slice = np.ones_like(img_slice)
        mask_slice[0][0] = 0
        image, mask = sitk.GetImageFromArray(img_slice), sitk.GetImageFromArray(mask_slice)
        image.SetSpacing((1.0, 1.0, 1.0))
        mask.SetSpacing((1.0, 1.0, 1.0))
        extractor = featureextractor.RadiomicsFeatureExtractor(cfg["radiomics"])
        rows.append(extractor.execute(sitk.JoinSeries(image), sitk.Cast(sitk.JoinSeries(mask), sitk.sitkInt32)))
    pd.DataFrame(rows).to_csv(tmp_path / "radiomics.csv", index=False)
    df = pd.read_csv(tmp_path / "radiomics.csv")  # what convert_radiomic_dfs_to_vectors reads back
    df = df.drop(columns=[c for c in df.columns if "shape2D" in c])
    df = df.drop(columns=df.select_dtypes(include=["object"]).columns)
    theirs = df.to_numpy().astype(np.float32)

    net = build_backbone("pyradiomics", cfg)
    inputs = [net.preprocess(net.input_image(read_image(p), "pil-l"), "pil-l") for p in two_radiographs]
    ours = net.features(inputs, "chexgenbench")
    assert ours.shape == theirs.shape == (2, 398)
    np.testing.assert_array_equal(ours, theirs)
    diagnostics, names = net.feature_names(read_image(two_radiographs[0]).pixels)
    assert diagnostics + names == list(df.columns)
    assert not any(n.startswith("log-sigma") for n in names)  # LoG is never applied to one slice
    assert net.features(inputs, "radiomics").shape == (2, 385)


def test_radiomics_absent_says_how_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "radiomics" else real(name, *a))
    with pytest.raises(InputError, match=r"cxrgen-bench\[radiomics\]"):
        build_backbone("pyradiomics", PROFILE.backbone("pyradiomics"))


def test_radiomics_cache_key_follows_settings_and_library():
    a = build_backbone("pyradiomics", PROFILE.backbone("pyradiomics"))
    changed = dict(PROFILE.backbone("pyradiomics"), radiomics={**a.settings, "setting": {**a.settings["setting"],
                                                                                         "binWidth": 10}})
    b = build_backbone("pyradiomics", changed)
    assert a.extractor_key("pil-l", "chexgenbench") != b.extractor_key("pil-l", "chexgenbench")
    assert "pyradiomics" in a.provenance["library"]


# --- the Inception's classifier (IS's standard layer) ----------------------------------------------

def test_nvidia_format_with_classifier_gives_unbiased_logits(tmp_path):
    from cxrgen_bench.models.image.inception_tf import TFInceptionV3

    torch.manual_seed(0)
    model = TFInceptionV3().with_classifier().eval()
    for p in model.parameters():
        p.data.normal_(0, 0.05)
    for name, buf in model.named_buffers():
        buf.copy_(torch.rand_like(buf) + 0.5 if name.endswith("var") else torch.randn_like(buf) * 0.1)
    path = tmp_path / "inception-2015-12-05.pt"
    torch.jit.script(model).save(str(path))  # keys layers.* and output.{weight,bias}, as NVIDIA's export
    net = build_backbone("inception-v3-fid", PROFILE.backbone("inception-v3-fid"), weights=str(path), allow_pickle=True)
    x = torch.randn(2, 3, 299, 299)
    with torch.no_grad():
        pool3 = model(x)
        expected = pool3 @ model.output.weight.T  # no bias: torch-fidelity's logits_unbiased
        torch.testing.assert_close(net.forward(x, "logits"), expected, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(net.forward(x, "pool3"), pool3, rtol=1e-4, atol=1e-5)


@pytest.mark.real_weights
def test_fid_helper_file_has_no_logits_and_says_so(inception_weights):
    net = build_backbone("inception-v3-fid", PROFILE.backbone("inception-v3-fid"), weights=str(inception_weights))
    with pytest.raises(WeightsError, match="no 1008-class output layer"):
        net.forward(torch.zeros(1, 3, 299, 299), "logits")


@pytest.mark.real_weights
def test_chexgenbench_is_on_real_inception_matches_torchmetrics(inception_weights, real_cxr_jpegs):
    """Their IS: torchmetrics InceptionScore(feature=2048) on the 299² uint8 images; here torchmetrics gets the
    same network (the real 2015-12-05 weights) as its custom feature module, and the same permutation."""
    torchmetrics_inception = pytest.importorskip("torchmetrics.image.inception")
    cfg = PROFILE.backbone("inception-v3-fid")
    net = build_backbone("inception-v3-fid", cfg, weights=str(inception_weights))
    paths = real_cxr_jpegs[:12]
    inputs = [net.preprocess(net.input_image(read_image(p), "chexgenbench-299"), "chexgenbench-299") for p in paths]
    pool3 = net.features(inputs, "pool3")

    class Pool3(torch.nn.Module):
        def forward(self, x):
            return net.forward(x, "pool3")

    metric = torchmetrics_inception.InceptionScore(feature=Pool3(), splits=10)
    with torch.no_grad():
        metric.update(torch.from_numpy(np.stack(inputs)))
    torch.manual_seed(0)
    theirs, _ = metric.compute()
    torch.manual_seed(0)
    ours, _, _ = inception_score(pool3, 10, torch.randperm(len(paths)).numpy())
    assert ours == pytest.approx(float(theirs), rel=1e-5)
    assert 1.0 < ours < 1.1  # the softmax of pool3 activations is nearly flat: IS ≈ 1 whatever the images


def test_inception_score_refuses_chunks_of_one_image(tmp_path, real_cxr_jpegs):
    """Three images on CheXGenBench's 10 chunks: an error naming the count and the setting, not a value of 1."""
    from cxrgen_bench.scoring.runner import score

    folder = tmp_path / "three"
    folder.mkdir()
    for i, path in enumerate(real_cxr_jpegs[:3]):
        (folder / f"p{i}_0.jpg").write_bytes(path.read_bytes())
    entry = score(images=folder, metrics="inception_score", profile="chexgenbench2025",
                  cache_dir=tmp_path / "cache")["metrics"]["inception_score[inception-v3-fid]"]
    assert entry["value"] is None and "at least 20 images" in entry["error"] and "inception_score.splits" in entry["error"]
