"""Image autoencoders (the `autoencoders` registry): encode an image to a latent and decode it back,
for the VAE-reconstruction study (seeds/001 §2.3).

The contract: `reconstruct(batch)` takes (B, C, H, W) float32 pixels in [−1, 1] (the convention of
diffusers VAEs; C = `channels`, H and W multiples of `downsample`) and returns the decoded images in
the same shape, clamped to [−1, 1]. Each image's reconstruction depends on that image only, never
on the rest of the batch, so batch size and chunking do not change a number (up to kernel rounding).

Built-ins:
- ``diffusers``: any diffusers autoencoder folder (AutoencoderKL of SD 1.x/2.x/XL/3, or another
  ``Autoencoder*`` class), or a pipeline folder holding one under ``vae/``. Safetensors only unless the
  user allows pickle (recorded in the provenance); code shipped with a checkpoint is never run. The
  latent is the posterior's mode (its mean), not a sample: deterministic, and what the SD pipelines'
  img2img path reconstructs when asked for the mode. Scaling/shift factors cancel in encode→decode and
  are not applied.
- Calibration codecs of known quality (``codec-down2``, ``codec-down8``, ``codec-shuffle``), for the
  study's offline known answer: `cxrgen_bench/calibration/codecs.py`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from .base import Model
from .folders import check_model_folder, check_pipeline_folder, folder_sha256, WEIGHT_SUFFIXES


class Autoencoder(Model):
    kind = "autoencoder"
    channels: int = 3  # input channels the encoder takes (grayscale is repeated onto them)
    downsample: int = 1  # image sides must be multiples of this

    def __init__(self, source: str | Path | None = None, device: str = "cpu", allow_pickle: bool = False,
                 precision: str = "fp32"):
        super().__init__(device=device, allow_pickle=allow_pickle)
        self.source = source
        self.precision = precision
        self.provenance: dict[str, Any] = {}

    def reconstruct(self, batch: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def check_size(self, size: int, where: str) -> None:
        if size % self.downsample:
            raise InputError(f"{where}: the autoencoder {self.name} downsamples by {self.downsample}; the image side "
                             f"({size}) must be a multiple of it (choose another --resolution)")


# --- diffusers ---------------------------------------------------------------------------------------
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def vae_folder(path: Path, allow_pickle: bool) -> tuple[Path, str]:
    """The autoencoder's own folder (``path`` itself, or ``path/vae`` of a pipeline folder) and its weights'
    format ("safetensors", or "pickle" when allowed); checked for unsafe files, with errors that name the
    folder and what to do."""
    if not path.is_dir():
        raise InputError(f"{path}: VAE folder not found (give a diffusers pipeline folder, its vae/ folder, or a "
                         "registered autoencoder name: cxrgen-bench ls autoencoders)")
    if (path / "model_index.json").is_file():
        check_pipeline_folder(path, allow_pickle)
        if not (path / "vae").is_dir():
            raise InputError(f"{path}: this pipeline folder has no vae/ folder; pass the autoencoder's folder itself")
        path = path / "vae"
    config = path / "config.json"
    if not config.is_file():
        raise InputError(f"{path}: no config.json; a diffusers autoencoder folder is written by "
                         "vae.save_pretrained(folder, safe_serialization=True)")
    # the folder's own errors (a config that is not JSON, remote code, refused pickle) pass through as they
    # are; only a folder without weights gets the VAE-specific advice
    fmt = check_model_folder(path, allow_pickle, require_weights=False)
    if fmt == "none":
        raise InputError(f"{path}: no *.safetensors weights in this VAE folder; save it with "
                         "vae.save_pretrained(folder, safe_serialization=True) (or convert its .bin with "
                         "safetensors.torch.save_file)")
    return path, fmt


class DiffusersAutoencoder(Autoencoder):
    name = "diffusers"

    def __init__(self, source: str | Path | None = None, device: str = "cpu", allow_pickle: bool = False,
                 precision: str = "fp32"):
        super().__init__(source, device, allow_pickle, precision)
        if not source:
            raise InputError("the diffusers autoencoder needs --vae FOLDER (a pipeline folder or its vae/ folder)")
        if precision not in DTYPES:
            raise InputError(f"precision {precision!r} unknown; choose from {', '.join(DTYPES)}")
        self.folder, fmt = vae_folder(Path(source), allow_pickle)
        config = json.loads((self.folder / "config.json").read_text(encoding="utf-8"))
        self.class_name = str(config.get("_class_name", ""))
        if not self.class_name.startswith("Autoencoder"):
            raise InputError(f"{self.folder / 'config.json'}: _class_name is {self.class_name!r}, not a diffusers "
                             "autoencoder (AutoencoderKL, ...)")
        self.channels = int(config.get("in_channels", 3))
        self.downsample = 2 ** max(0, len(config.get("down_block_types", ())) - 1)
        # the config changes outputs as much as the weights do: both are in the hash
        self.provenance = {"path": str(self.folder), "class": self.class_name, "format": fmt,
                           "sha256": folder_sha256(self.folder, WEIGHT_SUFFIXES + (".json",)),
                           "trusted_by": "safe format" if fmt == "safetensors" else "--allow-pickle",
                           "latent": "posterior mode (mean)", "precision": precision}

    def load(self) -> Any:
        import diffusers

        cls = getattr(diffusers, self.class_name, None)
        if cls is None:
            raise InputError(f"{self.folder}: diffusers {diffusers.__version__} has no class {self.class_name}; "
                             "upgrade diffusers")
        # None (allowed pickle): prefer safetensors, fall back to .bin; True: safetensors only
        model = cls.from_pretrained(str(self.folder), use_safetensors=None if self.allow_pickle else True,
                                    torch_dtype=DTYPES[self.precision])
        return model.eval().to(self.device)

    @torch.inference_mode()
    def reconstruct(self, batch: torch.Tensor) -> torch.Tensor:
        net = self.model
        x = batch.to(self.device, DTYPES[self.precision])
        encoded = net.encode(x)
        dist = getattr(encoded, "latent_dist", None)
        latent = dist.mode() if dist is not None else encoded.latents  # AutoencoderTiny has no posterior
        decoded = net.decode(latent).sample
        return decoded.float().clamp(-1.0, 1.0).cpu()
