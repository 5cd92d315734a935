"""Codecs of known quality in place of a VAE, for the VAE-reconstruction study's offline known answer
(registered as autoencoders): ``codec-down2`` and ``codec-down8`` (area downsampling by 2 or 8, bicubic
upsampling: a mild and a strong loss of detail) and ``codec-shuffle`` (returns another phantom
radiograph, seeded by the input's content: a decoder that ignores its input, so every paired measure
is at chance while the images still look like the set)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from ..errors import InputError
from ..models.autoencoders import Autoencoder
from .phantom import random_findings, render


class DownsampleCodec(Autoencoder):
    """Area downsampling by ``factor`` then bicubic upsampling: detail lost in proportion to the factor."""

    factor: ClassVar[int]
    channels = 1

    def __init__(self, source: str | Path | None = None, device: str = "cpu", allow_pickle: bool = False,
                 precision: str = "fp32"):
        super().__init__(source, device, allow_pickle, precision)
        self.downsample = self.factor
        self.provenance = {"sha256": hashlib.sha256(f"{self.name}-v{self.version}".encode()).hexdigest(),
                           "source": "built-in calibration codec (no weights)"}

    @torch.inference_mode()
    def reconstruct(self, batch: torch.Tensor) -> torch.Tensor:
        small = torch.nn.functional.avg_pool2d(batch.float(), self.factor)
        up = torch.nn.functional.interpolate(small, size=batch.shape[-2:], mode="bicubic", align_corners=False)
        return up.clamp(-1.0, 1.0)


class Down2(DownsampleCodec):
    name = "codec-down2"
    factor = 2


class Down8(DownsampleCodec):
    name = "codec-down8"
    factor = 8


class ShuffleCodec(Autoencoder):
    """Returns another phantom radiograph (random findings), seeded by the input's bytes: deterministic,
    independent of the batch, and unrelated to the input."""

    name = "codec-shuffle"
    channels = 1

    def __init__(self, source: str | Path | None = None, device: str = "cpu", allow_pickle: bool = False,
                 precision: str = "fp32"):
        super().__init__(source, device, allow_pickle, precision)
        self.provenance = {"sha256": hashlib.sha256(f"{self.name}-v{self.version}".encode()).hexdigest(),
                           "source": "built-in calibration codec (no weights)"}

    def reconstruct(self, batch: torch.Tensor) -> torch.Tensor:
        out = []
        for image in batch.float().numpy():
            seed = int.from_bytes(hashlib.sha256(image.tobytes()).digest()[:4], "little")
            rng = np.random.default_rng(seed)
            other = render(random_findings(rng), seed, size=image.shape[-1])
            if other.shape != image.shape[-2:]:
                raise InputError(f"codec-shuffle renders square phantoms; got an image of shape {image.shape[-2:]}")
            out.append(np.asarray(other, np.float32)[None] * 2.0 - 1.0)
        return torch.from_numpy(np.stack(out)).clamp(-1.0, 1.0)
