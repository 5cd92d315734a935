"""Reading any radiograph file into one canonical image: float32 (H, W) grayscale in [0, 1].

The conversion, per source (the same for generated and reference images):
- 8-bit L / P / 1:                 value / 255
- 16-bit L (PNG "I;16", "I"):      value / 65535 (values above 65535 are an error)
- float ("F"):                     must already lie in [0, 1] (else an error)
- RGB / CMYK / palette colour:     ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B) in float, / 255;
                                   the 8-bit channels are kept beside it (`colour`) for the
                                   preprocessings that read colour, as the official RoentGen
                                   evaluation did (PIL `convert("RGB")`, three channels to the network)
- with alpha (LA, RGBA, PA):       composited onto black (the X-ray background) when any pixel is
                                   not opaque; recorded as a coercion. The same file with its alpha
                                   dropped, as PIL's `convert("RGB")` / `convert("L")` read it (the
                                   peers' scripts), rides along: a backbone whose profile block says
                                   `alpha: drop` reads that one (`LoadedImage.under`, `ALPHA_RULES`)
- DICOM:                           modality LUT (rescale slope/intercept) → VOI LUT or the first
                                   window when the file has one → min-max to [0, 1] →
                                   inverted when MONOCHROME1 (so bone is bright, as in PNG/JPEG)
Backbones then turn this image into their own input (3-channel, resized, normalised).
"""
from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".dcm", ".dicom"}
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
# How a file with partly transparent pixels is read: "composite-black" lays it on black, as a viewer shows an
# X-ray; "drop" ignores the alpha channel, as PIL's convert("RGB") / convert("L") do (CheXGenBench, RoentGen).
ALPHA_RULES = ("composite-black", "drop")

# Refuse decompression bombs with a clear error, but allow large radiographs (4k × 4k and more).
Image.MAX_IMAGE_PIXELS = 20000 * 20000


def alpha_rule(backbone_block: Mapping[str, Any], name: str) -> str:
    """A profile's backbone block's `alpha`: one of `ALPHA_RULES`, composited onto black when not given."""
    rule = backbone_block.get("alpha", ALPHA_RULES[0])
    if rule not in ALPHA_RULES:
        raise InputError(f"backbone {name}: alpha: {rule!r} is not one of {', '.join(ALPHA_RULES)} (the profile's "
                         f"backbones.{name}.alpha)")
    return rule


@dataclass
class LoadedImage:
    pixels: np.ndarray  # float32 (H, W) in [0, 1]: the canonical grayscale image
    source_mode: str
    coercions: list[str] = field(default_factory=list)
    colour: np.ndarray | None = None  # uint8 (H, W, 3) of a colour file (alpha composited), else None
    # the same file with its alpha channel ignored; only for files with a pixel that is not opaque
    alpha_dropped: LoadedImage | None = None

    def under(self, alpha: str) -> LoadedImage:
        """The image as the alpha rule ``alpha`` (one of `ALPHA_RULES`) reads the file."""
        if alpha not in ALPHA_RULES:
            raise InputError(f"alpha rule {alpha!r}: expected one of {', '.join(ALPHA_RULES)}")
        return self.alpha_dropped if alpha == "drop" and self.alpha_dropped is not None else self

    def rgb(self) -> np.ndarray:
        """float32 (H, W, 3) in [0, 1]: a colour file's channels, or the grayscale image on all three
        (what PIL's `convert("RGB")` gives for 8-bit grayscale files)."""
        if self.colour is not None:
            return self.colour.astype(np.float32) / 255.0
        return np.repeat(self.pixels[..., None], 3, axis=-1)

    def pil_l(self) -> np.ndarray:
        """float32 (H, W) in [0, 1]: PIL's `convert("L")` of a colour file (luma rounded to 8 bits, as
        the official MS-SSIM script reads images); the canonical image for grayscale files."""
        if self.colour is None:
            return self.pixels
        return np.asarray(Image.fromarray(self.colour).convert("L"), dtype=np.float32) / 255.0


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_matches_sha256(path: Path, expected: str, actual: str | None = None) -> bool:
    """Whether a file still holds the bytes a record (a manifest's sha256 column, the generation journal)
    says it holds; ``actual``: its sha256 when already computed. Hex digits in either case."""
    return (actual or sha256_file(path)) == expected.strip().lower()


def check_image_bytes(data: bytes, path: Path) -> str:
    """Cheap structural check of a file's bytes, done when an image set is loaded, so a broken
    sample is reported before any metric runs (not only when a metric happens to read it).
    Returns the sha256 of the bytes."""
    if not data:
        raise InputError(f"{path}: image file is empty (0 bytes); regenerate or remove it")
    if data[128:132] == b"DICM" or path.suffix.lower() in (".dcm", ".dicom"):
        return hashlib.sha256(data).hexdigest()  # pixel data is checked when read
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            img.verify()  # PNG: walks every chunk and checks CRCs, without decompressing
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... for broken files
        raise InputError(f"{path}: not a readable image (corrupt or truncated?): {exc}") from exc
    if fmt == "JPEG" and b"\xff\xd9" not in data[-4096:]:
        raise InputError(f"{path}: truncated JPEG (no end-of-image marker); regenerate it")
    return hashlib.sha256(data).hexdigest()


def is_dicom(path: Path) -> bool:
    if path.suffix.lower() in (".dcm", ".dicom"):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _read_dicom(path: Path) -> LoadedImage:
    try:
        import pydicom
        from pydicom.pixels import apply_modality_lut, apply_voi_lut
    except ImportError as exc:  # pragma: no cover - pydicom is a core dependency
        raise InputError(f"{path}: reading DICOM needs pydicom (pip install pydicom)") from exc
    try:
        ds = pydicom.dcmread(str(path))
        raw = ds.pixel_array
    except Exception as exc:  # pydicom raises many types; all mean "this file is unusable"
        hint = ""
        if "decode" in str(exc).lower() or "plugin" in str(exc).lower():
            hint = " (compressed transfer syntax: install pylibjpeg, pylibjpeg-openjpeg or python-gdcm)"
        raise InputError(f"{path}: cannot read DICOM pixel data: {exc}{hint}") from exc
    if raw.ndim != 2:
        raise InputError(f"{path}: DICOM pixel data has shape {raw.shape}; expected one grayscale frame")
    coercions = []
    arr = apply_modality_lut(raw, ds).astype(np.float64)
    if "VOILUTSequence" in ds or "WindowCenter" in ds:
        arr = apply_voi_lut(arr, ds, index=0).astype(np.float64)
        coercions.append("dicom: VOI LUT/window applied")
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        raise InputError(f"{path}: DICOM image is constant ({lo}); nothing to score")
    arr = (arr - lo) / (hi - lo)
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        arr = 1.0 - arr
        coercions.append("dicom: MONOCHROME1 inverted")
    return LoadedImage(arr.astype(np.float32), f"DICOM {getattr(ds, 'BitsStored', '?')}-bit", coercions)


def _to_gray01(img: Image.Image, path: Path) -> LoadedImage:
    mode = img.mode
    coercions: list[str] = []
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode_now = img.mode
    else:
        mode_now = mode
    if mode_now in ("LA", "RGBA", "PA"):
        return _with_alpha(np.asarray(img, dtype=np.float64), mode)
    if mode_now in ("1", "L"):
        return LoadedImage((np.asarray(img.convert("L"), dtype=np.float32) / 255.0), mode, coercions)
    if mode_now.startswith("I;16") or mode_now == "I":
        arr = np.asarray(img, dtype=np.float64)
        if arr.min() < 0 or arr.max() > 65535:
            raise InputError(f"{path}: {mode} image has values outside 0..65535; save it as 8- or 16-bit PNG")
        return LoadedImage((arr / 65535.0).astype(np.float32), mode, ["16-bit scaled by 1/65535"])
    if mode_now == "F":
        arr = np.asarray(img, dtype=np.float32)
        if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
            raise InputError(f"{path}: float image must hold finite values in [0, 1]")
        return LoadedImage(arr, mode, coercions)
    if mode_now in ("RGB", "CMYK", "YCbCr", "LAB", "HSV"):
        colour = np.asarray(img.convert("RGB"))
        gray = colour.astype(np.float64) @ np.array(LUMA_WEIGHTS) / 255.0
        return LoadedImage(gray.astype(np.float32), mode, coercions, colour=colour)
    raise InputError(f"{path}: unsupported image mode {mode!r}; convert it to 8/16-bit grayscale or RGB PNG")


def _with_alpha(arr: np.ndarray, mode: str) -> LoadedImage:
    """An (H, W, C + 1) array whose last channel is alpha: composited onto black, with the alpha-dropped
    reading beside it when any pixel is not opaque."""
    alpha = arr[..., -1] / 255.0
    straight = _without_alpha(arr[..., :-1], mode, [])
    if not (alpha < 1).any():
        return straight
    composited = _without_alpha(arr[..., :-1] * alpha[..., None], mode, ["alpha composited on black"])
    straight.coercions.append("alpha dropped")
    composited.alpha_dropped = straight
    return composited


def _without_alpha(color: np.ndarray, mode: str, coercions: list[str]) -> LoadedImage:
    if color.shape[-1] == 1:
        return LoadedImage((color[..., 0] / 255.0).astype(np.float32), mode, coercions)
    return LoadedImage((color @ np.array(LUMA_WEIGHTS) / 255.0).astype(np.float32), mode, coercions,
                       colour=np.clip(np.rint(color), 0, 255).astype(np.uint8))


def read_image(path: str | Path) -> LoadedImage:
    """Read a PNG/JPEG/TIFF/DICOM file as a canonical float32 grayscale image in [0, 1]."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: image file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: image file is empty (0 bytes); regenerate or remove it")
    if is_dicom(path):
        return _read_dicom(path)
    try:
        with Image.open(path) as img:
            img.load()  # forces a full decode: truncated files fail here, not later
            loaded = _to_gray01(img, path)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"{path}: not a readable image (corrupt or truncated?): {exc}") from exc
    if min(loaded.pixels.shape) < 2:
        raise InputError(f"{path}: image is {loaded.pixels.shape[1]}×{loaded.pixels.shape[0]} px; too small to score")
    return loaded
