"""Decode-once image caches for training studies: every image of a set, read once (DICOM/16-bit/RGBA
aware, the canonical grayscale of `data.images.read_image`), resized to the training resolution and
stored as uint8 in one memory-mapped file. All regimes, sizes and seeds of a study read the same
cache: a 30k-image regime costs one JPEG decode per image for the whole grid, not one per epoch.

Resize rule (recorded in the cache's index): the shorter side to R with the clean bicubic rule, then a
centre crop to R×R (chest radiographs are near-square; nothing is stretched).

A cache is named by its content (the images' file hashes, in order, and the rule), written under a
temporary name and renamed once complete: a killed build leaves no cache that looks complete, and a
re-run builds it again.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.images import read_image, sha256_file
from ..errors import InputError
from ..files import atomic_write_text
from ..progress import ProgressFactory, factory

RULE = "canonical grayscale → shorter side to R (clean bicubic) → centre crop R×R → uint8"


@dataclass(frozen=True)
class CachedSet:
    """N images of R×R uint8, memory-mapped read-only, with their ids in order."""

    ids: tuple[str, ...]
    pixels: np.ndarray  # (N, R, R) uint8 memmap
    index: dict

    def __len__(self) -> int:
        return len(self.ids)


def to_training_pixels(path: Path, resolution: int, with_size: bool = False):
    """The uint8 R×R training image of a file (and its source (height, width) when asked)."""
    from ..functional.resize import square

    image = read_image(path).pixels * 255.0
    resized = square(image, resolution)
    pixels = np.clip(np.rint(resized), 0, 255).astype(np.uint8)
    return (pixels, image.shape) if with_size else pixels


def build_cache(folder: Path, name: str, items: Sequence[tuple[str, Path]], resolution: int,
                progress: ProgressFactory | None = None, digests: Sequence[str] | None = None) -> CachedSet:
    """The cache of ``items`` (id, file) at ``resolution`` in ``folder``: reused when one with the same
    content exists, built otherwise. ``digests``: the files' sha256 when the caller has them already (an
    `ImageSet` hashed every file when it was read), so no file is read again to name the cache."""
    if not items:
        raise InputError(f"{name}: no images to cache")
    ids = [i for i, _ in items]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise InputError(f"{name}: duplicate image ids {dup}")
    missing = [str(p) for _, p in items if not Path(p).is_file()]
    if missing:
        raise InputError(f"{name}: {len(missing)} image file(s) not found, e.g. {missing[:3]}")
    digests = list(digests) if digests is not None else [sha256_file(Path(p)) for _, p in items]
    key = hashlib.sha256(json.dumps([resolution, RULE, list(zip(ids, digests))]).encode()).hexdigest()[:20]
    folder.mkdir(parents=True, exist_ok=True)
    data, meta = folder / f"{name}-{key}.npy", folder / f"{name}-{key}.json"
    if not (data.is_file() and meta.is_file()):
        tmp = data.with_name(data.name + f".partial-{os.getpid()}")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(items), resolution, resolution))
        sizes: Counter = Counter()
        with (progress or factory(False))(len(items), f"caching {name} at {resolution}²", "images") as bar:
            for n, (_, path) in enumerate(items):
                out[n], (h, w) = to_training_pixels(Path(path), resolution, with_size=True)
                sizes[f"{w}x{h}"] += 1
                bar.update(1)
        out.flush()
        del out
        os.replace(tmp, data)
        # every image is resized by RULE whatever its size: the sizes met are recorded (a documented coercion)
        atomic_write_text(meta, json.dumps({"name": name, "resolution": resolution, "rule": RULE, "n": len(items),
                                            "source_sizes": dict(sorted(sizes.items())), "ids": ids,
                                            "sha256": digests}, indent=1))
    index = json.loads(meta.read_text(encoding="utf-8"))
    pixels = np.load(data, mmap_mode="r")
    if pixels.shape != (len(items), resolution, resolution) or index.get("ids") != ids:
        raise InputError(f"{data}: damaged image cache (shape {pixels.shape}); delete it and re-run")
    return CachedSet(tuple(ids), pixels, index)


class Rows:
    """Rows of several uint8 arrays (memory maps) as one indexable set, without copying them: a training
    mix of 30k real and 30k synthetic images reads its batches straight from the two caches."""

    def __init__(self, parts: Sequence[tuple[np.ndarray, np.ndarray]]):
        self.parts = [(array, np.asarray(idx, dtype=np.int64)) for array, idx in parts if len(idx)]
        self.offsets = np.cumsum([0] + [len(idx) for _, idx in self.parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        part = np.searchsorted(self.offsets, rows, side="right") - 1
        out = None
        for p, (array, idx) in enumerate(self.parts):
            mine = part == p
            if mine.any():
                block = array[idx[rows[mine] - self.offsets[p]]]
                if out is None:
                    out = np.empty((len(rows),) + block.shape[1:], dtype=array.dtype)
                out[mine] = block
        return out
