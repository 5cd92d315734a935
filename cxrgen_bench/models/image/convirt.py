"""conVIRT's image encoder (Zhang et al. 2020): a ResNet-50 trained contrastively on MIMIC-CXR images
and reports — the image→image retrieval model of RoentGen Table 4 (middle).

Weights: ViLMedic's `selfsup/convirt-mimic` (jbdel/vilmedic; its author co-wrote RoentGen), a torch.save
dict whose "model" entry holds the image encoder as `visual.model.N.*` (torchvision ResNet-50's
children up to the average pool: 0 conv1, 1 bn1, 4–7 layer1–4) and the projection head as
`vis_proj.0/2.*` (2048 → 768 → ReLU → 768); the text side's tensors are ignored. Read weights-only.
Layers: ``pooled`` (2048-d, the encoder's pooled features: what conVIRT's own image-image retrieval
ranks by, and the roentgen2022 choice) and ``projection`` (768-d, the contrastive head).

Preprocessing ``convirt-224`` (ViLMedic's evaluation transform): RGB, resized to 224×224 (bilinear),
ImageNet mean/std.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..weights import load_strict
from .base import Backbone

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)[:, None, None]
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)[:, None, None]
_CHILDREN = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}  # with weights


class ConVIRTNet(nn.Module):
    def __init__(self):
        super().__init__()
        import torchvision

        resnet = torchvision.models.resnet50(weights=None)
        self.encoder = nn.Sequential(*list(resnet.children())[:-1])  # up to the average pool
        self.projection = nn.Sequential(nn.Linear(2048, 768), nn.ReLU(), nn.Linear(768, 768))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).flatten(1)


class ConVIRTResNet50(Backbone):
    name = "convirt-resnet50"
    layers = {"pooled": 2048, "projection": 768}
    preprocessings = ("convirt-224",)
    channels_last = True

    def _adapt_keys(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """ViLMedic's names (visual.model.N.*, vis_proj.*) → ours; a converted file already has ours."""
        if not any(k.startswith(("visual.", "vis_proj.")) for k in state_dict):
            return state_dict
        out = {}
        for key, value in state_dict.items():
            if key.startswith("visual.model."):
                index, rest = key[len("visual.model."):].split(".", 1)
                if index in _CHILDREN:
                    out[f"encoder.{index}.{rest}"] = value  # the same Sequential indices as ours
            elif key.startswith("vis_proj."):
                out["projection." + key[len("vis_proj."):]] = value
        return out

    def build(self, state_dict: dict[str, torch.Tensor], where: str) -> torch.nn.Module:
        model = ConVIRTNet()
        load_strict(model, state_dict, where)
        return model

    def preprocess(self, image: np.ndarray, preprocessing: str = "convirt-224") -> np.ndarray:
        u8 = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
        rgb = Image.fromarray(u8).convert("RGB").resize((224, 224), Image.Resampling.BILINEAR)
        x = np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0
        return (x - IMAGENET_MEAN) / IMAGENET_STD

    def forward(self, batch: torch.Tensor, layer: str) -> torch.Tensor:
        pooled = self.model.pooled(batch)
        return pooled if layer == "pooled" else self.model.projection(pooled)
