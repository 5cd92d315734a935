"""roentgen2022 follows the official RoentGen evaluation (StanfordMIMI/RoentGen eval/calculate_fid.py,
eval/calculate_ms-ssim.py) step for step. Each official path is written out here from its steps —
PIL `convert("RGB")`, clean-fid's own resizer, torchvision's own transforms, the network called
directly — and the project's features must agree within 1e-5 relative, on real radiographs and on
tinted RGB copies of them (generated images are RGB and often carry a faint colour cast)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cxrgen_bench.data.images import read_image
from cxrgen_bench.models.image import build_backbone
from cxrgen_bench.profiles import get_profile

PROFILE = get_profile("roentgen2022")
N_IMAGES = 3


@pytest.fixture(scope="module")
def radiographs(real_cxr_jpegs, tmp_path_factory) -> list[Path]:
    """Real grayscale radiographs and RGB copies tinted R+6, B−6 (saved losslessly)."""
    folder = tmp_path_factory.mktemp("tinted")
    tinted = []
    for path in real_cxr_jpegs[:N_IMAGES]:
        rgb = np.asarray(Image.open(path).convert("RGB")).astype(np.int16)
        rgb[..., 0] += 6
        rgb[..., 2] -= 6
        out = folder / f"{path.stem}_tinted.png"
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB").save(out)
        tinted.append(out)
    return list(real_cxr_jpegs[:N_IMAGES]) + tinted


def ours(name: str, paths: list[Path], weights: Path, **kw) -> np.ndarray:
    net = build_backbone(name, PROFILE.backbone(name), weights=str(weights), **kw)
    cfg = PROFILE.backbone(name)
    prep = cfg["preprocessing"]
    inputs = [net.preprocess(net.input_image(read_image(p), prep), prep) for p in paths]
    return net.features(inputs, cfg["layer"]).astype(np.float64)


def official_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))  # clean-fid's ResizeDataset reads files so


def clean_299(rgb: np.ndarray) -> torch.Tensor:
    from cleanfid.resize import build_resizer

    return torch.from_numpy(build_resizer("clean")(rgb).transpose(2, 0, 1).copy())  # (3, 299, 299) in [0, 255]


def assert_close_relative(a: np.ndarray, b: np.ndarray, tol: float = 1e-5) -> None:
    error = np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)
    assert error.max() < tol, error


@pytest.mark.real_weights
def test_inception_matches_the_official_path(radiographs, inception_weights):
    scripted = torch.jit.load(str(inception_weights), map_location="cpu").eval()  # trusted: pinned sha256
    with torch.no_grad():  # this export takes (x − 128) / 128; clean-fid's takes [0, 255] and does it inside
        theirs = scripted(torch.stack([(clean_299(official_rgb(p)) - 128) / 128 for p in radiographs])).double().numpy()
    assert_close_relative(ours("inception-v3-fid", radiographs, inception_weights), theirs)


def test_xrv_matches_the_official_path(radiographs, xrv_random_weights):
    from torchvision import transforms
    from torchvision.transforms.functional import rgb_to_grayscale

    model = torch.load(xrv_random_weights, weights_only=False).eval()  # our own random file
    steps = transforms.Compose([  # the official XRV transform, with torchvision of 2022 (no antialiasing)
        transforms.Lambda(lambda x: rgb_to_grayscale(x, 1)),
        transforms.Lambda(lambda x: 2048 * (x / 255) - 1024),
        transforms.Resize(224, antialias=False),
    ])
    batch = torch.stack([clean_299(official_rgb(p)) for p in radiographs])
    with torch.no_grad():
        theirs = model.features2(steps(batch)).double().numpy()
    assert_close_relative(ours("xrv-densenet121", radiographs, xrv_random_weights, allow_pickle=True), theirs)


def test_clip_matches_the_official_path(radiographs, clip_random_weights):
    import open_clip
    from torchvision import transforms

    model = open_clip.create_model("ViT-B-32-quickgelu", pretrained=None).eval()
    model.load_state_dict(torch.load(clip_random_weights, weights_only=True))
    resize = transforms.Compose([transforms.Resize(224, interpolation=transforms.InterpolationMode.BICUBIC),
                                 transforms.CenterCrop(224)])  # clean-fid's img_preprocess_clip, on PIL RGB
    normalise = transforms.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
    batch = torch.stack([normalise(torch.from_numpy(np.asarray(resize(Image.fromarray(official_rgb(p))))
                                                    .transpose(2, 0, 1).astype(np.float32) / 255))
                         for p in radiographs])
    with torch.no_grad():
        theirs = model.encode_image(batch).double().numpy()
    assert_close_relative(ours("clip-vit-b-32", radiographs, clip_random_weights), theirs)


def test_the_colour_path_sees_a_tint_the_grayscale_path_ignores(radiographs, clip_random_weights):
    net = build_backbone("clip-vit-b-32", PROFILE.backbone("clip-vit-b-32"), weights=str(clip_random_weights))
    gray, tinted = read_image(radiographs[0]), read_image(radiographs[N_IMAGES])

    def features(loaded, prep):
        return net.features([net.preprocess(net.input_image(loaded, prep), prep)], "image_embeds")[0]

    # a grayscale file: the colour path and the v1 grayscale path are the same numbers
    np.testing.assert_allclose(features(gray, "openai-clip-224-rgb"), features(gray, "openai-clip-224"), atol=1e-6)
    # the tinted copy: the colour path reads the cast, the grayscale path only its luma
    assert tinted.colour is not None and tinted.source_mode == "RGB"
    moved_rgb = np.abs(features(tinted, "openai-clip-224-rgb") - features(gray, "openai-clip-224-rgb")).max()
    moved_gray = np.abs(features(tinted, "openai-clip-224") - features(gray, "openai-clip-224")).max()
    assert moved_rgb > 10 * max(moved_gray, 1e-6)


def test_xrv_resize_is_torchvision_without_antialiasing(real_cxr_jpegs, xrv_random_weights):
    """The pinned choice: antialiasing on (torchvision ≥ 0.17's default) would move the inputs by far more."""
    from torchvision.transforms.functional import InterpolationMode, resize, rgb_to_grayscale

    net = build_backbone("xrv-densenet121", PROFILE.backbone("xrv-densenet121"), weights=str(xrv_random_weights),
                         allow_pickle=True)
    loaded = read_image(real_cxr_jpegs[0])
    x = net.preprocess(net.input_image(loaded, "roentgen2022-xrv-rgb"), "roentgen2022-xrv-rgb")
    gray = 2048 * (rgb_to_grayscale(clean_299(official_rgb(real_cxr_jpegs[0]))) / 255) - 1024
    plain = resize(gray, [224], InterpolationMode.BILINEAR, antialias=False).numpy()
    smooth = resize(gray, [224], InterpolationMode.BILINEAR, antialias=True).numpy()
    assert np.abs(x - plain).max() < 1e-3
    assert np.abs(x - smooth).max() > 10


def test_classifier_centre_crop_follows_torchvision(real_cxr_jpegs, xrv_random_weights):
    """Longer side to 512 then torchvision's CenterCrop(512): the odd padding pixel goes right/bottom."""
    from torchvision.transforms.functional import center_crop

    from cxrgen_bench.functional.resize import center_crop_or_pad, side_to

    for path in real_cxr_jpegs:
        x = side_to(read_image(path).pixels * 255, 512, "longer")
        theirs = center_crop(torch.from_numpy(x)[None], [512, 512])[0].numpy()
        np.testing.assert_array_equal(center_crop_or_pad(x, 512), theirs)
    odd = np.ones((5, 2), np.float32)
    assert center_crop_or_pad(odd, 5)[:, 0].sum() == 0 and center_crop_or_pad(odd, 5)[:, 3:].sum() == 0
    assert center_crop_or_pad(odd, 5)[:, 1:3].all()  # 3 columns of padding: 1 left, 2 right


def test_classifier_pad_and_crop_readings_differ_on_non_square_radiographs(real_cxr_jpegs, xrv_random_weights):
    net = build_backbone("xrv-densenet121", PROFILE.backbone("xrv-densenet121"), weights=str(xrv_random_weights),
                         allow_pickle=True)
    img = read_image(real_cxr_jpegs[8]).pixels  # 968 × 592: landscape
    pad = net.preprocess(img, "roentgen2022-classifier")
    crop = net.preprocess(img, "roentgen2022-classifier-crop")
    assert pad.shape == crop.shape == (1, 224, 224)
    rows = pad[0].mean(axis=1)
    assert rows[2:20].max() < -1000 and rows[-20:-2].max() < -1000  # black bands above and below (edges: resize)
    assert crop[0].mean(axis=1)[:20].max() > -1000  # cropped: image content to the border


def test_ms_ssim_reads_colour_files_as_pil_l(radiographs):
    tinted = read_image(radiographs[N_IMAGES])
    expected = np.asarray(Image.open(radiographs[N_IMAGES]).convert("L"), dtype=np.float32) / 255
    np.testing.assert_array_equal(tinted.pil_l(), expected)
    assert np.abs(tinted.pil_l() - tinted.pixels).max() <= 0.5 / 255 + 1e-6  # luma, rounded to 8 bits


def test_results_of_the_previous_profile_version_are_kept_apart():
    from cxrgen_bench.gate import PASS, UNUSABLE, run_gate
    from cxrgen_bench.leaderboard.render import tables_for

    from .results_factory import measured

    assert PROFILE.version == "2.1" and get_profile("roentgen2022-quick").version == "2.1"
    old, new = measured(version="2.0"), measured(name="model-b", version="2.1")
    report = run_gate(old, new, {"default": {"relative": 0.05}})
    assert report.exit_code == UNUSABLE and "baseline roentgen2022 v2.0, candidate roentgen2022 v2.1" in report.problems[0]
    assert run_gate(old, new, {"default": {"relative": 0.05}}, force=True).exit_code == PASS
    for entry in (old, new):
        entry["name"] = entry["model"]["name"]
    assert {t.profile for t in tables_for([old, new])} == {"roentgen2022 v2.0", "roentgen2022 v2.1"}


def test_profile_records_what_still_differs_from_the_official_run():
    described = PROFILE.describe()
    assert described["version"] == "2.1" and any("fp16" in d for d in described["differences"])
    assert get_profile("roentgen2022-quick").differences == PROFILE.differences
    for metric in ("fid", "kid", "fd_infinity", "cmmd", "prdc_recall"):
        assert PROFILE.metric(metric)["max_images"] == 5000
    assert {PROFILE.backbone(b)["preprocessing"] for b in ("inception-v3-fid", "xrv-densenet121", "clip-vit-b-32")} == {
        "clean-299-rgb", "roentgen2022-xrv-rgb", "openai-clip-224-rgb"}
