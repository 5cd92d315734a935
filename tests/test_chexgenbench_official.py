"""chexgenbench2025 follows CheXGenBench's code (Raman1121/CheXGenBench: metrics/fid.py, frd.py,
privacy_metrics.py, img_text_alignment_scores.py) step for step. Each path is written out here from its
steps — PIL, torchvision's transforms, the uint8 cast of their loop — and the profile's inputs must equal
them; the settings the profile pins are checked against the numbers in their code. docs/chexgenbench.md
lists every step side by side and measures the flaws the profile follows."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cxrgen_bench.data.images import read_image
from cxrgen_bench.models.image.chexgenbench_input import chexgenbench_299
from cxrgen_bench.models.image.inception_tf import InceptionV3FID
from cxrgen_bench.profiles import get_profile

PROFILE = get_profile("chexgenbench2025")


@pytest.fixture(scope="module")
def radiographs(real_cxr_jpegs, tmp_path_factory) -> list[Path]:
    """Two real grayscale radiographs and an RGB copy tinted R+6, B−6 (generated images are RGB)."""
    folder = tmp_path_factory.mktemp("tinted")
    rgb = np.asarray(Image.open(real_cxr_jpegs[9]).convert("RGB")).astype(np.int16)
    rgb[..., 0] += 6
    rgb[..., 2] -= 6
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB").save(folder / "tinted.png")
    return [real_cxr_jpegs[0], real_cxr_jpegs[9], folder / "tinted.png"]


def their_inception_input(path: Path) -> np.ndarray:
    """fid.py: ImageDataset (convert("RGB"), Resize((299, 299)), ToTensor), (batch * 255).to(uint8); then
    torchmetrics' Inception (torch-fidelity): float, resize to 299 (identity), (x − 128) / 128."""
    from torchvision import transforms

    tensor = transforms.Compose([transforms.Resize((299, 299)), transforms.ToTensor()])(Image.open(path).convert("RGB"))
    batch = (tensor[None] * 255).to(torch.uint8)
    return ((batch.float() - 128) / 128)[0].numpy()


def test_inception_input_is_theirs_bit_for_bit(radiographs):
    net = InceptionV3FID.__new__(InceptionV3FID)  # preprocessing needs no weights
    for path in radiographs:
        ours = net.preprocess(net.input_image(read_image(path), "chexgenbench-299"), "chexgenbench-299")
        np.testing.assert_array_equal(ours, their_inception_input(path))


def test_their_truncating_uint8_cast_returns_every_grey_level(radiographs):
    """Their cast truncates, but (v/255)·255 in float32 gives every v back exactly: it loses nothing."""
    values = torch.arange(256, dtype=torch.uint8)
    assert torch.equal((values.float().div(255) * 255).to(torch.uint8), values)
    rgb = read_image(radiographs[0]).rgb()
    assert chexgenbench_299(rgb).dtype == np.uint8


def test_reid_inputs_are_theirs(radiographs):
    from torchvision import transforms

    from cxrgen_bench.models.image.reid_siamese import ReIDSiamese

    net = ReIDSiamese.__new__(ReIDSiamese)
    transform = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor()])
    for path in radiographs:
        real = transform(Image.open(path).resize((512, 512)).convert("RGB")).numpy()
        generated = transform(Image.open(path).convert("RGB")).numpy()
        image = net.input_image(read_image(path), "chexgenbench-224")
        np.testing.assert_allclose(net.preprocess(image, "chexgenbench-224-real"), real, atol=1e-7)
        np.testing.assert_allclose(net.preprocess(image, "chexgenbench-224"), generated, atol=1e-7)


def test_profile_pins_their_settings():
    m, b = PROFILE.metrics, PROFILE.backbones
    assert PROFILE.version == "2.1"
    assert m["fid"]["backbones"] == ["inception-v3-fid", "rad-dino"] and m["fid"]["max_images"] is None
    assert m["kid"]["subset_size"] == "all" and m["kid"]["subsets"] == 100  # KID_SUBSET_SIZE = min(len), 100 subsets
    assert m["prdc_precision"]["k"] == 5 and m["prdc_precision"]["backbones"] == ["rad-dino"]
    assert m["inception_score"]["layer"] == "pool3" and m["inception_score"]["splits"] == 10  # feature=2048
    assert m["frd"] == {"backbones": ["pyradiomics"], "samples": "first", "match_sizes": True, "seed": 42, "log": True}
    assert m["alignment"]["pair"] == "biovil-t"
    assert m["reid"]["pairing"] == "own-prompt" and m["reid"]["samples"] == "all"
    assert b["inception-v3-fid"]["preprocessing"] == b["rad-dino"]["preprocessing"] == "chexgenbench-299"
    assert b["pyradiomics"]["layer"] == "chexgenbench"
    settings = b["pyradiomics"]["radiomics"]["setting"]
    assert (settings["binWidth"], settings["normalizeScale"], settings["voxelArrayShift"]) == (5, 100, 300)
    assert settings["resampledPixelSpacing"] == [2, 2, 0] and settings["force2D"] is True
    assert PROFILE.subgroups["by"] == ["finding"] and PROFILE.subgroups["matched_sizes"] is False


def test_profile_records_what_differs_from_their_code():
    text = " ".join(PROFILE.differences)
    for named in ("combine_shards", "len % 16", "torch.randperm", "rounds each to 3 decimals", "512 tokens"):
        assert named in text, named
    assert PROFILE.describe()["differences"] == list(PROFILE.differences)
