"""Image processors of transformers folders run on their PIL backend whatever transformers is installed: the
pixels our preprocessing hands a model (RAD-DINO's Bit processor, CLIP's, ViT's) equal a resize written out
from the definition with PIL, to a tolerance the torchvision backend (transformers 5's default) breaks."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cxrgen_bench.models.image import build_backbone
from cxrgen_bench.models.image.chexgenbench_input import chexgenbench_299

transformers = pytest.importorskip("transformers")
MAJOR = int(transformers.__version__.split(".")[0])
TOLERANCE = 1e-5  # float32 rounding of the normalised values; torchvision's bicubic moves them by ~1e-2
PACKAGE = Path(__file__).resolve().parents[1] / "cxrgen_bench"

# processor class → settings: RAD-DINO's (microsoft/rad-dino: shortest edge 518, crop 518; it upsamples the
# 299² CheXGenBench image), a downsampling Bit processor, CLIP's and ViT's (a plain bilinear resize)
PROCESSORS = {
    "rad-dino": ("BitImageProcessor", {"size": {"shortest_edge": 518}, "crop_size": {"height": 518, "width": 518},
                                       "image_mean": [0.5307] * 3, "image_std": [0.2583] * 3}),
    "bit-small": ("BitImageProcessor", {"size": {"shortest_edge": 24}, "crop_size": {"height": 20, "width": 20}}),
    "clip": ("CLIPImageProcessor", {"size": {"shortest_edge": 40}, "crop_size": {"height": 36, "width": 36}}),
    "vit": ("ViTImageProcessor", {"size": {"height": 44, "width": 36}}),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """One tiny Dinov2 model folder per processor (the model is never run here: only its processor)."""
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    config = Dinov2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                          image_size=28, patch_size=14)
    model = Dinov2Model(config)
    out = {}
    for name, (cls, settings) in PROCESSORS.items():
        folder = tmp_path_factory.mktemp(f"processor-{name}")
        model.save_pretrained(str(folder), safe_serialization=True)
        getattr(transformers, cls)(**settings).save_pretrained(str(folder))
        out[name] = folder
    return out


def resized_from_definition(rgb: np.ndarray, cfg: dict) -> np.ndarray:
    """What a processor config asks for, written out: PIL resize of the 8-bit RGB image (shorter side to
    `shortest_edge`, the longer one floored to keep the aspect, or to height × width), centre crop with the
    offset floored, × rescale_factor, (x − mean) / std; (3, H, W)."""
    image = Image.fromarray(rgb, "RGB")
    w, h = image.size
    size = cfg["size"]
    if "shortest_edge" in size:
        edge = size["shortest_edge"]
        longer = int(edge * max(w, h) / min(w, h))
        new_w, new_h = (edge, longer) if w <= h else (longer, edge)
    else:
        new_w, new_h = size["width"], size["height"]
    x = np.asarray(image.resize((new_w, new_h), resample=cfg["resample"]), dtype=np.float64)
    if cfg.get("do_center_crop"):
        ch, cw = cfg["crop_size"]["height"], cfg["crop_size"]["width"]
        top, left = (new_h - ch) // 2, (new_w - cw) // 2
        x = x[top:top + ch, left:left + cw]
    x = (x * cfg["rescale_factor"] - np.array(cfg["image_mean"])) / np.array(cfg["image_std"])
    return x.transpose(2, 0, 1)


def inputs(preprocessing: str) -> tuple[np.ndarray, np.ndarray]:
    """(what our preprocessing is handed, the 8-bit RGB image the processor then sees)."""
    rng = np.random.default_rng(3)
    if preprocessing == "chexgenbench-299":
        rgb = rng.integers(0, 256, (41, 33, 3)).astype(np.float32) / 255.0
        return rgb, chexgenbench_299(rgb)
    gray = rng.random((37, 29)).astype(np.float32)
    u8 = np.clip(np.rint(gray * 255.0), 0, 255).astype(np.uint8)
    return gray, np.repeat(u8[..., None], 3, axis=-1)


@pytest.mark.parametrize("preprocessing", ["processor", "chexgenbench-299"])
@pytest.mark.parametrize("name", list(PROCESSORS))
def test_every_processor_runs_the_pil_resize(folders, name, preprocessing):
    net = build_backbone(name, {"kind": "transformers", "folder": str(folders[name])})
    assert net.provenance["image_processor"] == "pil"
    given, rgb = inputs(preprocessing)
    cfg = json.loads((folders[name] / "preprocessor_config.json").read_text())
    expected = resized_from_definition(rgb, cfg)
    ours = net.preprocess(given, preprocessing)
    assert ours.shape == expected.shape
    assert np.abs(ours - expected).max() <= TOLERANCE
    if MAJOR >= 5:  # the tolerance is one the other backend breaks (transformers 4 has no such backend here)
        fast = transformers.AutoImageProcessor.from_pretrained(str(folders[name]), backend="torchvision")
        moved = fast(images=Image.fromarray(rgb, "RGB"), return_tensors="np")["pixel_values"][0]
        assert np.abs(moved - expected).max() > 100 * TOLERANCE


def test_features_cached_under_the_old_processor_are_not_reused(folders):
    """The processor's backend changed what a transformers backbone computes: its cache key changed with it."""
    net = build_backbone("rad-dino", {"kind": "transformers", "folder": str(folders["rad-dino"])})
    assert net.version == "2" and net.describe()["version"] == "2"


def test_a_processor_without_a_pil_backend_is_refused(folders, monkeypatch):
    from cxrgen_bench.errors import InputError
    from cxrgen_bench.models import transformers_folders

    monkeypatch.setattr(transformers_folders, "runs_on_torchvision", lambda processor: True)
    with pytest.raises(InputError, match="no PIL image processor"):
        transformers_folders.load_image_processor(folders["clip"])


def test_image_processors_are_built_in_one_place():
    """Every image processor the package builds goes through `load_image_processor`, which pins the backend."""
    pattern = re.compile(r"(Auto|[A-Z]\w*)(Image)?Processor\w*\.from_pretrained\(")
    # the report generators' loader (models/report/) predates it and moves to it with them
    pending = {"models/report/transformers_rrg.py"}
    builders = {str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if pattern.search(path.read_text())}
    assert builders - pending == {"models/transformers_folders.py"}
