"""Any transformers vision model folder as a backbone: an image encoder (RAD-DINO's Dinov2, ViT, conv
nets) or an image–text model (CLIP- and SigLIP-style folders: `get_image_features`) with its text tower.

    rad-dino:
      kind: transformers
      folder: /weights/rad-dino          # or --weights rad-dino=/weights/rad-dino
      preprocessing: processor
      layer: pooled

Layers: ``pooled`` (the model's pooler output: Dinov2's normalised CLS token, a conv net's global
average), ``cls`` (the first token of the last hidden state, for token models) and, for image–text
models, ``image_embeds`` (the projected embedding their text tower shares). Preprocessing
``processor`` is the folder's own image processor (preprocessor_config.json), always on its PIL backend
(what transformers 4 ran, and the peers with it; `load_image_processor`), applied to an 8-bit RGB
rendering of the canonical image; ``chexgenbench-299`` applies it to what CheXGenBench's loop hands
RAD-DINO instead: the file's RGB squashed to 299×299 and cast to uint8 by truncation
(`models/image/chexgenbench_input.py`).

Loaded offline, safetensors only unless --allow-pickle, never with remote code (a config or processor
config that declares `auto_map` is refused); weights that do not cover the architecture are an error,
and a pooler whose weights the folder lacks is refused rather than run with random values.
"""
from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from PIL import Image

from ...errors import InputError, WeightsError
from ..base import Model, folder_provenance
from ..folders import CONFIG_SUFFIXES, WEIGHT_SUFFIXES
from ..image.base import Backbone
from ..image.chexgenbench_input import chexgenbench_299
from ..text.base import TextEncoder
from ..weights import model_folder
from ..transformers_folders import (features_of, import_transformers, load_checked, load_image_processor, load_tokenizer,
                                   read_config, require_tokenizer, token_lengths, token_limit)

PROCESSOR_CONFIG = "preprocessor_config.json"
TEXT_BATCH = 64


class TransformersVision(Backbone):
    name = "transformers"
    version = "2"  # 2: the processor always runs on its PIL backend (1: transformers' default, torchvision in 5)
    layers: dict[str, int] = {}  # read from the folder's config, per instance
    preprocessings = ("processor", "chexgenbench-299")
    colour_preprocessings = frozenset({"chexgenbench-299"})

    def __init__(self, profile_cfg: Mapping[str, Any], weights: str | None = None, allow_pickle: bool = False,
                 device: str = "cpu", name: str | None = None, **_: Any):
        # Not Backbone.__init__: the weights are a model folder, not one file found by the resolution order.
        Model.__init__(self, device=device, allow_pickle=allow_pickle)
        self.name = name or self.name
        self.cfg = dict(profile_cfg)
        self.torch_device = torch.device(device)
        given = weights or self.cfg.get("folder")
        found = model_folder(self.name, weights, self.cfg.get("folder"), marker="")
        if found is None and not given:
            raise WeightsError(f"backbone {self.name} (kind transformers) needs a model folder: `cxrgen-bench weights "
                               f"fetch --only {self.name}` puts it in the weights folder; or --weights "
                               f"{self.name}=FOLDER, or `folder:` in the profile's block")
        self.folder = found or Path(given).expanduser()
        self.provenance = {**folder_provenance(self.folder, allow_pickle, WEIGHT_SUFFIXES + CONFIG_SUFFIXES),
                           "image_processor": "pil"}  # see load_image_processor
        config = _json(self.folder / "config.json")
        processor = _json(self.folder / PROCESSOR_CONFIG, what="image processor config (save the processor "
                                                                "beside the model with processor.save_pretrained)")
        if processor.get("auto_map"):
            raise WeightsError(f"{self.folder / PROCESSOR_CONFIG}: declares auto_map, i.e. code shipped with the "
                               "checkpoint; cxrgen-bench never runs code from a checkpoint")
        self.paired = "vision_config" in config and "text_config" in config
        self.layers, self.shared_layer = _layers(config, self.paired)
        self.pooler_missing = False

    def load(self) -> torch.nn.Module:
        model, self.pooler_missing = load_checked(import_transformers().AutoModel, self.folder, self.allow_pickle,
                                                  self.device)
        return model

    def build(self, state_dict: dict[str, torch.Tensor], where: str) -> torch.nn.Module:
        raise NotImplementedError("a transformers folder is loaded whole (see load)")

    @cached_property
    def _processor(self) -> Any:
        return load_image_processor(self.folder)

    def preprocess(self, image: np.ndarray, preprocessing: str = "processor") -> np.ndarray:
        if preprocessing == "chexgenbench-299":
            rgb = Image.fromarray(chexgenbench_299(image), "RGB")
        else:
            rgb = Image.fromarray(np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)).convert("RGB")
        pixels = self._processor(images=rgb, return_tensors="np")["pixel_values"]
        return np.asarray(pixels[0], dtype=np.float32)

    def forward(self, batch: torch.Tensor, layer: str = "pooled") -> torch.Tensor:
        model = self.model
        if layer == "image_embeds":
            return features_of(model.get_image_features(pixel_values=batch))
        out = model(pixel_values=batch)
        if layer == "cls":
            return out.last_hidden_state[:, 0]
        if self.pooler_missing:
            raise InputError(f"backbone {self.name}: {self.folder} has no weights for the model's pooler, so its "
                             "pooled output would be random; use layer cls")
        return out.pooler_output.flatten(1)

    def text_tower(self) -> Any:
        if not self.paired:
            return super().text_tower()
        return PairedHFText(self)


class PairedHFText(TextEncoder):
    """The text tower of a transformers image–text model folder (CLIP, SigLIP, ...: `get_text_features`):
    the image backbone's own loaded network and the tokenizer saved in its folder, so image and text
    embeddings share one space (see `TransformersVision` above)."""

    name = "paired-transformers"
    extractions = ("model-specific",)
    default_extraction = "model-specific"

    def __init__(self, backbone: Any):
        super().__init__(device=str(backbone.device), allow_pickle=backbone.allow_pickle)
        self.backbone = backbone
        require_tokenizer(backbone.folder)
        self.provenance = {**backbone.provenance, "tower": "text", "image_backbone": backbone.name}
        config = read_config(backbone.folder)
        self.max_length = token_limit(config.get("text_config") or {}, backbone.folder)
        # SigLIP's towers were trained on texts padded to the full length (and take no attention mask)
        self.padding = "max_length" if str(config.get("model_type", "")).startswith("siglip") else True

    def key(self, **settings: Any) -> str:
        return super().key(backbone=self.backbone.name, **settings)

    def load(self) -> Any:
        return load_tokenizer(self.backbone.folder), self.backbone.model

    def encode(self, texts: list[str], extraction: str) -> tuple[np.ndarray, list[bool]]:
        import torch

        tokenizer, model = self.model
        truncated = [n > self.max_length for n in token_lengths(tokenizer, texts)]
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), TEXT_BATCH):
                batch = tokenizer(texts[start:start + TEXT_BATCH], padding=self.padding, truncation=True,
                                  max_length=self.max_length, return_tensors="pt").to(self.device)
                inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}
                out.append(features_of(model.get_text_features(**inputs)).float().cpu().numpy())
        return np.concatenate(out).astype(np.float32), truncated


def _json(path: Path, what: str = "model config") -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: not found: a transformers vision folder needs its {what}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable {what} ({exc})") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a JSON object")
    return data


def _layers(config: Mapping[str, Any], paired: bool) -> tuple[dict[str, int], str | None]:
    """Layer → dimension, and the layer an image–text model's text tower shares, from the config."""
    if paired:
        vision = config.get("vision_config") or {}
        return {"image_embeds": int(config.get("projection_dim") or vision.get("hidden_size") or 0)}, "image_embeds"
    hidden = config.get("hidden_size") or (config.get("hidden_sizes") or [0])[-1]
    layers = {"pooled": int(hidden)}
    if "patch_size" in config:  # a token model: its first token is the CLS token
        layers["cls"] = int(hidden)
    return layers, None
