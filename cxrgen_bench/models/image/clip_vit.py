"""OpenAI CLIP ViT-B/32 image embeddings (``encode_image``, 512-d) through open_clip.

Preprocessing is open_clip's own OpenAI transform (bicubic resize of the shorter side to 224,
centre crop 224, CLIP mean/std) applied to an 8-bit RGB rendering of the canonical image, as the
RoentGen evaluation fed PIL images to CLIP. 16-bit sources are therefore quantised to 8 bits here.
"""
from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import torch
from PIL import Image

from .base import Backbone, load_strict

MODEL_NAME = "ViT-B-32-quickgelu"  # OpenAI's ViT-B/32 uses QuickGELU
IMAGE_SIZE = 224
# Entries of OpenAI's JIT state dict that are hyper-parameters, not tensors of the model.
_OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")


class CLIPViTB32(Backbone):
    name = "clip-vit-b-32"
    layers = {"image_embeds": 512}
    preprocessings = ("openai-clip-224",)
    shared_layer = "image_embeds"

    def _adapt_keys(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        for key in _OPENAI_EXTRA_KEYS:
            state_dict.pop(key, None)
        return state_dict

    def build(self, state_dict: dict[str, torch.Tensor], where: str) -> torch.nn.Module:
        import logging

        import open_clip

        # open_clip warns that no pretrained weights were loaded; we load them on the next line.
        logging.disable(logging.WARNING)
        try:
            model = open_clip.create_model(MODEL_NAME, pretrained=None)
        finally:
            logging.disable(logging.NOTSET)
        load_strict(model, {k: v.float() for k, v in state_dict.items()}, where)
        return model

    @cached_property
    def _transform(self):
        import open_clip

        return open_clip.image_transform(IMAGE_SIZE, is_train=False, mean=open_clip.OPENAI_DATASET_MEAN,
                                         std=open_clip.OPENAI_DATASET_STD)

    def preprocess(self, image: np.ndarray, preprocessing: str = "openai-clip-224") -> np.ndarray:
        u8 = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
        return self._transform(Image.fromarray(u8).convert("RGB")).numpy()

    def forward(self, batch: torch.Tensor, layer: str = "image_embeds") -> torch.Tensor:
        return self.model.encode_image(batch)

    def text_tower(self) -> Any:
        from ..text.open_clip_text import PairedCLIPText

        return PairedCLIPText(self, MODEL_NAME)
