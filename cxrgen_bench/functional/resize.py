"""The "clean" resize of Parmar et al. (clean-fid): PIL bicubic on float32 pixels, no uint8
quantisation between steps, output clipped to the input's [0, 255] range."""
from __future__ import annotations

import numpy as np
from PIL import Image


def clean_resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a float (H, W) image in [0, 255] to ``size`` = (height, width)."""
    if img.ndim != 2:
        raise ValueError(f"clean_resize takes one (H, W) channel, got shape {img.shape}")
    height, width = size
    pil = Image.fromarray(np.ascontiguousarray(img, dtype=np.float32))  # mode "F"
    out = np.asarray(pil.resize((width, height), resample=Image.Resampling.BICUBIC), dtype=np.float32)
    return np.clip(out, 0.0, 255.0)


def longer_side_to(img: np.ndarray, target: int) -> np.ndarray:
    """Resize (clean rule) so the longer side equals ``target``, keeping the aspect ratio."""
    h, w = img.shape
    scale = target / max(h, w)
    return clean_resize(img, (max(1, round(h * scale)), max(1, round(w * scale))))


def center_crop_or_pad(img: np.ndarray, size: int, fill: float = 0.0) -> np.ndarray:
    """Centre crop to size×size, padding with ``fill`` where a side is shorter (torchvision's CenterCrop rule)."""
    h, w = img.shape
    out = np.full((size, size), fill, dtype=img.dtype)
    top, left = (h - size) // 2, (w - size) // 2  # negative: pad
    src_t, src_l = max(top, 0), max(left, 0)
    dst_t, dst_l = max(-top, 0), max(-left, 0)
    hh, ww = min(h - src_t, size - dst_t), min(w - src_l, size - dst_l)
    out[dst_t:dst_t + hh, dst_l:dst_l + ww] = img[src_t:src_t + hh, src_l:src_l + ww]
    return out
