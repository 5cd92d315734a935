"""CXR-RePaiR (Endo et al. 2021; rajpurkarlab/CXR-RePaiR): OpenAI CLIP ViT-B/32 fine-tuned on MIMIC-CXR
image/impression pairs — the image→text retrieval model of RoentGen Table 4 (bottom). An image–text
model: `image_embeds` (512-d, the space its text tower `text_tower()` embeds impressions into).

Weights: the repository's MIMIC checkpoint (`clip-imp-pretrained_128_6_after_4.pt`, published through
its README's Box link), a plain OpenAI-CLIP state dict saved with torch.save (read weights-only).

Preprocessing ``cxr-repair-320``, the repository's own (data/mimic_image_dataset.py and its h5 export):
grayscale; longer side resized to 320 (PIL Lanczos, aspect kept) and centred on a black 320×320
canvas; 0–255 values repeated to three channels; normalised with MIMIC's mean 101.48761 and std
83.43944; then resized to 224 (bicubic, on the tensor, without antialiasing as the torchvision of
2021 did). CLIP's own transform is not used.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .clip_vit import CLIPViTB32

SIDE, INPUT = 320, 224
MEAN, STD = 101.48761, 83.43944


def letterbox_320(image: np.ndarray) -> np.ndarray:
    """Canonical image → 320×320 float 0–255, the longer side fitted and the rest black."""
    pil = Image.fromarray(np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8))
    scale = SIDE / max(pil.size)
    size = (max(1, round(pil.size[0] * scale)), max(1, round(pil.size[1] * scale)))
    pil = pil.resize(size, Image.Resampling.LANCZOS)
    canvas = Image.new("L", (SIDE, SIDE))
    canvas.paste(pil, ((SIDE - size[0]) // 2, (SIDE - size[1]) // 2))
    return np.asarray(canvas, dtype=np.float32)


class CXRRePaiR(CLIPViTB32):
    name = "cxr-repair"
    preprocessings = ("cxr-repair-320",)

    def preprocess(self, image: np.ndarray, preprocessing: str = "cxr-repair-320") -> np.ndarray:
        x = torch.from_numpy((letterbox_320(image) - MEAN) / STD)[None].repeat(3, 1, 1)
        x = torch.nn.functional.interpolate(x[None], size=(INPUT, INPUT), mode="bicubic", align_corners=False)[0]
        return x.numpy().astype(np.float32)
