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


def side_to(img: np.ndarray, target: int, side: str) -> np.ndarray:
    """Resize (clean rule) so the ``side`` ("longer" or "shorter") equals ``target``, keeping the
    aspect ratio."""
    h, w = img.shape
    scale = target / (max(h, w) if side == "longer" else min(h, w))
    return clean_resize(img, (max(1, round(h * scale)), max(1, round(w * scale))))


def center_crop_or_pad(img: np.ndarray, size: int) -> np.ndarray:
    """Centre crop to size×size, padding with black where a side is shorter: torchvision's
    `center_crop` itself, so its rules hold (the odd padding pixel goes right/bottom; the crop offset
    is round((h − size) / 2) with Python's round-half-to-even)."""
    import torch
    from torchvision.transforms.functional import center_crop

    return center_crop(torch.from_numpy(np.ascontiguousarray(img))[None], [size, size])[0].numpy()


def square(img: np.ndarray, size: int) -> np.ndarray:
    """The project's one rule for bringing an image to size×size: shorter side to ``size`` (clean
    bicubic, keeping the aspect ratio), then centre crop (`center_crop_or_pad`). Takes and returns a
    float (H, W) image in [0, 255], as `clean_resize`. This is what training crops (a generator learns
    the centre square, not a squeezed image) and what the studies compare against."""
    return center_crop_or_pad(side_to(img, size, "shorter"), size)
