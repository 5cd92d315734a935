"""`cxrgen-bench weights convert`: an official weights file (a pickled module, a TorchScript archive, a
torch.save state dict) read once through the backbone's own checked loading path, written as
safetensors that later runs read without unpickling. It builds backbones, so it sits above the model
families; resolving and reading weights (`weights.py`) knows nothing of how a backbone is built."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import InputError
from .folders import HUB_WEIGHTS
from .image import build_backbone
from .weights import ENV_DIR, WeightsSpec, save_safetensors


def convert(backbone: str, source: str | Path, profile: Any, out: str | Path | None = None,
            allow_pickle: bool = False) -> Path:
    """Load an official weights file once through the backbone's real, checked loading path and write
    safetensors that never need unpickling. Destination: ``out``, else $CXRGEN_WEIGHTS, else beside
    the source, under the profile's preferred file name (so resolution finds it)."""
    cfg = profile.backbone(backbone)
    if cfg.get("kind") == "transformers":
        raise InputError(f"backbone {backbone} is a transformers folder: convert it with transformers itself, "
                         "model.save_pretrained(folder, safe_serialization=True)")
    net = build_backbone(backbone, cfg, weights=str(source), allow_pickle=allow_pickle)
    spec = WeightsSpec.from_profile(backbone, cfg)
    env_dir = os.environ.get(ENV_DIR)
    if Path(source).is_dir():  # an open_clip hub-format folder: the safetensors file it reads first
        dest = Path(out) if out else Path(source) / HUB_WEIGHTS[0]
    else:
        dest = Path(out) if out else (Path(env_dir) if env_dir else Path(source).parent) / spec.filename
    return save_safetensors(net.model.state_dict(), dest, {"backbone": backbone,
                                                           "converted_from_sha256": net.weights_sha256,
                                                           "converted_from": Path(source).name})
