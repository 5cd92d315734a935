import numpy as np
from PIL import Image
import pytest
import torch

from cxrgen_bench.errors import MetricError
from cxrgen_bench.functional import ms_ssim
from cxrgen_bench.functional.msssim import min_side_for

from . import reference_msssim  # MS-SSIM written from its definition, in float64


def pair(n=3, h=180, w=200, noise=0.2, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, 1, h, w, generator=g)
    b = (1 - noise) * a + noise * torch.rand(n, 1, h, w, generator=g)
    return a, b


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(161, 161), (180, 200), (257, 311), (512, 512)])
def test_parity_with_the_definition(shape, precision):
    a, b = pair(h=shape[0], w=shape[1])
    ours = ms_ssim(a, b, precision=precision)
    reference = reference_msssim.ms_ssim(a, b)
    assert (ours - reference).abs().max() < (1e-5 if precision == "float32" else 1e-6)


def test_parity_on_real_radiographs(real_cxr_jpegs):
    from cxrgen_bench.data.images import read_image
    from cxrgen_bench.functional.resize import clean_resize

    imgs = [clean_resize(read_image(p).pixels * 255, (256, 256)) / 255 for p in real_cxr_jpegs[:6]]
    t = torch.from_numpy(np.stack(imgs))[:, None]
    a, b = t[:3], t[3:]
    assert (ms_ssim(a, b) - reference_msssim.ms_ssim(a, b)).abs().max() < 1e-5


def test_identity_symmetry_and_range():
    a, b = pair()
    np.testing.assert_allclose(ms_ssim(a, a).numpy(), 1.0, atol=1e-12)
    np.testing.assert_allclose(ms_ssim(a, b).numpy(), ms_ssim(b, a).numpy(), atol=1e-12)
    v = ms_ssim(a, torch.rand_like(a))
    assert ((v >= 0) & (v <= 1)).all()


def test_each_pair_independent_of_batch():
    a, b = pair(n=4)
    whole = ms_ssim(a, b)
    one_by_one = torch.cat([ms_ssim(a[i:i + 1], b[i:i + 1]) for i in range(4)])
    np.testing.assert_allclose(whole.numpy(), one_by_one.numpy(), atol=1e-12)


def test_more_noise_means_lower_similarity():
    a, b_small = pair(noise=0.1, seed=1)
    _, b_large = pair(noise=0.6, seed=1)
    assert (ms_ssim(a, b_small) > ms_ssim(a, b_large)).all()


def test_pinned_value():
    yy, xx = torch.meshgrid(torch.arange(192.0), torch.arange(192.0), indexing="ij")
    a = (0.5 + 0.4 * torch.sin(xx / 7) * torch.cos(yy / 11))[None, None]
    b = (0.5 + 0.35 * torch.sin(xx / 7.3) * torch.cos(yy / 11) + 0.05 * torch.cos(xx / 3))[None, None]
    assert float(ms_ssim(a, b)) == pytest.approx(0.7827172974605872, abs=1e-9)
    # float32 (the official RoentGen run's precision): its rounding may vary with CPU and batch
    assert float(ms_ssim(a, b, precision="float32")) == pytest.approx(0.782717227935791, abs=1e-6)
    assert float(reference_msssim.ms_ssim(a, b)) == pytest.approx(0.782716900392145, abs=1e-9)


@pytest.mark.parametrize("precision,tol", [("float64", 1e-13), ("float32", 2e-6)])
@pytest.mark.parametrize("band_pixels", [1, 997, 20000])
def test_bands_of_rows_give_the_librarys_value(precision, tol, band_pixels):
    """Memory is bounded by taking each scale's maps in bands (one row per band at band_pixels=1);
    the value is pytorch-msssim's on the whole image."""
    import pytorch_msssim

    a, b = pair(n=2, h=203, w=170, seed=3)
    dtype = {"float32": torch.float32, "float64": torch.float64}[precision]
    library = pytorch_msssim.ms_ssim(a.to(dtype), b.to(dtype), data_range=1.0, size_average=False).double()
    banded = ms_ssim(a, b, precision=precision, band_pixels=band_pixels)
    assert (banded - library).abs().max() < tol


def test_one_band_is_the_library_bit_for_bit():
    import pytorch_msssim

    a, b = pair(n=2, h=300, w=256, seed=4)
    library = pytorch_msssim.ms_ssim(a.double(), b.double(), data_range=1.0, size_average=False)
    assert torch.equal(ms_ssim(a, b), library)  # 2048² and smaller fit in the default band


def test_the_metric_compares_views_one_pair_at_a_time(tmp_path, monkeypatch):
    """No stacked copies: every call gets one pair, and the pair's images are the decoded arrays."""
    from cxrgen_bench.data.manifest import ImageSet
    from cxrgen_bench.functional import msssim
    from cxrgen_bench.metrics import ms_ssim as metric_module

    folder = sample_folder(tmp_path / "gen", {"a": 4})
    calls = []
    real = msssim.ms_ssim
    monkeypatch.setattr(metric_module, "ms_ssim", lambda x, y, **kw: (calls.append((x, y)), real(x, y, **kw))[1])
    metric = metric_module.IntraPromptMSSSIM({}, [])
    values = metric.pair_values(ImageSet.from_folder(folder).records, metric.settings.numerics())
    assert len(calls) == len(values) == 6 and all(x.shape[0] == y.shape[0] == 1 for x, y in calls)
    bases = {x.untyped_storage().data_ptr() for pair_ in calls for x in pair_}
    assert len(bases) == 4  # the four decoded images, shared by the six pairs


def test_small_images_are_a_clear_error():
    assert min_side_for() == 161
    a, b = pair(h=160, w=300)
    with pytest.raises(MetricError, match="at least 161"):
        ms_ssim(a, b)
    with pytest.raises(MetricError, match="same shape"):
        ms_ssim(a, b[..., :200])


# --- which images the metric compares (roentgen2022 pins the official script's selection) ----------

def sample_folder(root, samples: dict[str, int], size=176, seed=0, colour=False):
    rng = np.random.default_rng(seed)
    base = rng.uniform(60, 190, (size, size))
    root.mkdir(parents=True, exist_ok=True)
    for pid, n in samples.items():
        for k in range(n):
            img = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
            if colour:  # an RGB file with a faint cast, as generated images often are
                rgb = np.stack([img, img, img], -1).astype(np.int16) + np.array([4, 0, -4])
                Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB").save(root / f"{pid}_{k}.png")
            else:
                Image.fromarray(img).save(root / f"{pid}_{k}.png")
    return root


def profile_file(tmp_path, **ms_ssim):
    import json

    path = tmp_path / "profile.yaml"
    path.write_text(json.dumps({"extends": "roentgen2022", "name": "t", "version": "1", "metrics": {"ms_ssim": ms_ssim}}))
    return str(path)


def test_roentgen2022_compares_samples_0_to_3_of_the_first_prompts_in_sorted_order(tmp_path):
    import cxrgen_bench

    folder = sample_folder(tmp_path / "gen", {"a": 4, "b": 4, "c": 5})
    result = cxrgen_bench.score(images=folder, metrics="ms_ssim", profile=profile_file(tmp_path, prompts=2))
    entry = result["metrics"]["ms_ssim"]
    selection = entry["details"]["selection"]
    assert selection["prompts_used"] == 2 and selection["prompts_available"] == 3 and selection["samples_per_prompt"] == 4
    assert entry["details"]["pairs"] == 2 * 6  # prompts a and b (sorted first), six pairs each
    alone = cxrgen_bench.score(images=sample_folder(tmp_path / "ab", {"a": 4, "b": 4}), metrics="ms_ssim")
    assert entry["value"] == pytest.approx(alone["metrics"]["ms_ssim"]["value"], abs=1e-12)
    both = cxrgen_bench.score(images=folder, metrics="ms_ssim")["metrics"]["ms_ssim"]
    assert any("1 sample(s) with index ≥ 4 left out" in w for w in both["warnings"])  # c_4 is not compared
    assert both["details"]["std_pairs"] > 0 and both["details"]["std"] > 0


def test_a_prompt_lacking_a_sample_is_an_error_under_the_profile_and_skipped_without_it(tmp_path):
    import cxrgen_bench

    folder = sample_folder(tmp_path / "gen", {"a": 4, "b": 3})
    strict = cxrgen_bench.score(images=folder, metrics="ms_ssim")["metrics"]["ms_ssim"]
    assert strict["value"] is None and "b lacks sample(s) [3]" in strict["error"]
    loose = cxrgen_bench.score(images=folder, metrics="ms_ssim",
                               profile=profile_file(tmp_path, samples_per_prompt=None, min_samples_per_prompt=2))
    entry = loose["metrics"]["ms_ssim"]
    assert entry["details"]["pairs"] == 6 + 3 and entry["details"]["selection"]["samples_per_prompt"] is None


def test_colour_files_are_compared_as_pil_l(tmp_path):
    import cxrgen_bench

    folder = sample_folder(tmp_path / "gen", {"a": 4}, colour=True)
    pil_l = cxrgen_bench.score(images=folder, metrics="ms_ssim")["metrics"]["ms_ssim"]
    luma = cxrgen_bench.score(images=folder, metrics="ms_ssim",
                              profile=profile_file(tmp_path, grayscale="luma"))["metrics"]["ms_ssim"]
    stack = torch.stack([torch.from_numpy(np.asarray(Image.open(folder / f"a_{k}.png").convert("L"),
                                                     dtype=np.float64) / 255)[None] for k in range(4)])
    i, j = zip(*[(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)])
    expected = float(reference_msssim.ms_ssim(stack[list(i)], stack[list(j)]).mean())
    assert pil_l["value"] == pytest.approx(expected, abs=1e-5)  # as the definition parity test above
    assert pil_l["details"]["selection"]["grayscale"] == "pil-L" and luma["value"] != pil_l["value"]
