"""Any open_clip image–text model as a backbone, with its text tower: CLIP's family, CheXzero (OpenAI
ViT-B/32 weights), CXR-RePaiR, and hub-format folders such as BiomedCLIP's.

A profile names it under any name with ``kind: open-clip`` and one of:

    my-clip:                             # an open_clip architecture and one weights file
      kind: open-clip
      architecture: ViT-B-32-quickgelu   # open_clip.list_models()
      weights: {filename: chexzero.safetensors}
      preprocessing: open-clip
      layer: image_embeds
    biomedclip:                          # a hub-format folder: open_clip_config.json + open_clip_model.safetensors
      kind: open-clip
      folder: /weights/BiomedCLIP        # or --weights biomedclip=/weights/BiomedCLIP
      preprocessing: open-clip
      layer: image_embeds

Preprocessing ``open-clip`` is the model's own (its config's image size, mean, std, interpolation and
resize mode: open_clip's evaluation transform) applied to an 8-bit RGB rendering of the canonical
image. Weights are read without unpickling (safetensors, or a torch.save state dict read weights-only);
OpenAI's JIT-era extra entries and a DataParallel ``module.`` prefix are dropped; every other key must
fit. A tower built on a Hugging Face text model (BiomedCLIP) needs that model's config and tokenizer
in the local Hugging Face cache: open_clip fetches them by name.
"""
from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from PIL import Image

from ...errors import InputError
from ..folders import HUB_CONFIG, HUB_WEIGHTS
from ..image.base import Backbone
from ..text.base import TextEncoder
from ..text.open_clip_text import encode_with
from ..weights import load_strict

# Entries of OpenAI's JIT state dict that are hyper-parameters, not tensors of the model.
_OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")


class OpenCLIPImage(Backbone):
    name = "open-clip"
    layers = {"image_embeds": 0}  # the dimension is the architecture's: set per instance
    preprocessings = ("open-clip",)
    shared_layer = "image_embeds"
    architecture: str | None = None  # fixed by subclasses for one published model

    def __init__(self, profile_cfg: Mapping[str, Any], weights: str | None = None, **kwargs: Any):
        cfg = dict(profile_cfg)
        name = kwargs.get("name") or self.name
        folder = _folder(cfg, weights)
        if folder is not None:  # hub format: the architecture and the weights file come from the folder
            self.arch = f"local-dir:{folder}"
            model_cfg, preprocess_cfg = _hub_config(folder, name)
            weights_file = next((folder / f for f in HUB_WEIGHTS if (folder / f).is_file()), None)
            if weights_file is None:
                raise InputError(f"backbone {name}: {folder} has {HUB_CONFIG} but no weights "
                                 f"({' or '.join(HUB_WEIGHTS)})")
            cfg["weights"] = {"filename": weights_file.name}
            weights = str(weights_file)
        else:
            self.arch = self.architecture or cfg.get("architecture")
            if not self.arch:
                raise InputError(f"backbone {name} (kind open-clip): the profile block needs `architecture:` (an "
                                 f"open_clip model name) or `folder:` (a folder with {HUB_CONFIG})")
            model_cfg = _builtin_config(self.arch, name)
            preprocess_cfg = dict(model_cfg.get("preprocess_cfg") or {})
        super().__init__(cfg, weights=weights, **kwargs)
        self.model_cfg = model_cfg
        self.preprocess_cfg = _preprocess_cfg(model_cfg, preprocess_cfg)
        self.layers = {"image_embeds": int(model_cfg["embed_dim"])}
        self.provenance["architecture"] = model_cfg if folder is not None else self.arch

    def key(self, **settings: Any) -> str:
        return super().key(architecture=self.model_cfg, preprocess=self.preprocess_cfg, **settings)

    def _adapt_keys(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        for key in _OPENAI_EXTRA_KEYS:
            state_dict.pop(key, None)
        if state_dict and all(k.startswith("module.") for k in state_dict):  # saved from DataParallel
            state_dict = {k[len("module."):]: v for k, v in state_dict.items()}
        return state_dict

    def build(self, state_dict: dict[str, torch.Tensor], where: str) -> torch.nn.Module:
        import logging

        import open_clip

        # open_clip warns that no pretrained weights were loaded; they are loaded on the next line.
        logging.disable(logging.WARNING)
        try:
            model = open_clip.create_model(self.arch, pretrained=None, load_weights=False)
        except OSError as exc:  # a Hugging Face text tower that is not in the local cache
            raise InputError(f"backbone {self.name}: open_clip could not build {self.arch!r} offline ({exc}); a tower "
                             "built on a Hugging Face text model needs its config in the local Hugging Face cache"
                             ) from exc
        finally:
            logging.disable(logging.NOTSET)
        load_strict(model, {k: v.float() for k, v in state_dict.items()}, where)
        return model

    @cached_property
    def _transform(self) -> Any:
        from open_clip.transform import PreprocessCfg, image_transform_v2

        return image_transform_v2(PreprocessCfg(**self.preprocess_cfg), is_train=False)

    def preprocess(self, image: np.ndarray, preprocessing: str = "open-clip") -> np.ndarray:
        u8 = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
        return self._transform(Image.fromarray(u8).convert("RGB")).numpy()

    def forward(self, batch: torch.Tensor, layer: str = "image_embeds") -> torch.Tensor:
        return self.model.encode_image(batch)

    def text_tower(self) -> Any:
        return PairedCLIPText(self, self.arch, int(self.model_cfg.get("text_cfg", {}).get("context_length", 77)))


class PairedCLIPText(TextEncoder):
    """The text tower of an open_clip image–text backbone (CLIP, CXR-RePaiR): the backbone's own loaded
    network and weights (same provenance), so image and text embeddings share one space."""

    name = "paired-clip"
    extractions = ("model-specific",)
    default_extraction = "model-specific"

    def __init__(self, backbone: Any, arch: str, context_length: int):
        super().__init__(device=str(backbone.device), allow_pickle=backbone.allow_pickle)
        self.backbone, self.arch, self.max_length = backbone, arch, context_length
        self.provenance = {**backbone.provenance, "tower": "text", "image_backbone": backbone.name}

    def key(self, **settings: Any) -> str:
        return super().key(backbone=self.backbone.name, architecture=self.backbone.model_cfg, **settings)

    def load(self) -> Any:
        import open_clip

        try:
            tokenizer = open_clip.get_tokenizer(self.arch)
        except OSError as exc:  # a Hugging Face tokenizer that is not in the local cache
            raise InputError(f"text tower of {self.backbone.name}: open_clip could not load the tokenizer of "
                             f"{self.arch!r} offline ({exc}); put it in the local Hugging Face cache") from exc
        return tokenizer, self.backbone.model

    def encode(self, texts: list[str], extraction: str) -> tuple[np.ndarray, list[bool]]:
        tokenizer, model = self.model
        return encode_with(tokenizer, model, texts, extraction, self.max_length, self.device)


def _folder(cfg: Mapping[str, Any], weights: str | None) -> Path | None:
    if weights and Path(weights).expanduser().is_dir():
        return Path(weights).expanduser()
    return Path(cfg["folder"]).expanduser() if cfg.get("folder") else None


def _builtin_config(arch: str, name: str) -> dict[str, Any]:
    import open_clip

    config = open_clip.get_model_config(arch)
    if config is None:
        raise InputError(f"backbone {name}: open_clip has no architecture {arch!r}; see open_clip.list_models(), "
                         f"or give a folder with {HUB_CONFIG}")
    return config


def _hub_config(folder: Path, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    path = folder / HUB_CONFIG
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"backbone {name}: {path} not found (an open_clip hub-format folder holds {HUB_CONFIG} "
                         "and its weights)") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"backbone {name}: {path}: unreadable ({exc})") from exc
    model_cfg = data.get("model_cfg") if isinstance(data, dict) else None
    if not isinstance(model_cfg, dict) or "embed_dim" not in model_cfg:
        raise InputError(f"backbone {name}: {path} lacks model_cfg.embed_dim (not an open_clip config)")
    return model_cfg, dict(data.get("preprocess_cfg") or {})


def _preprocess_cfg(model_cfg: Mapping[str, Any], declared: Mapping[str, Any]) -> dict[str, Any]:
    """open_clip's evaluation preprocessing: defaults (OpenAI mean/std, bicubic, shortest side), the
    tower's image size, then what the config declares."""
    from dataclasses import asdict

    from open_clip.transform import PreprocessCfg

    out = asdict(PreprocessCfg(size=model_cfg.get("vision_cfg", {}).get("image_size", 224)))
    out.update({k: v for k, v in declared.items() if k in out})
    out["mean"], out["std"] = tuple(out["mean"]), tuple(out["std"])
    if isinstance(out["size"], list):
        out["size"] = tuple(out["size"])
    return out
