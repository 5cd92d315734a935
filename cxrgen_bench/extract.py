"""Features of an image set through a backbone, one cached row per image (keyed by content)."""
from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Sequence

import numpy as np

from .backbones.base import Backbone
from .cache import Cache
from .data.images import read_image
from .data.manifest import ImageRecord


def default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 2)))


def extract_features(records: Sequence[ImageRecord], backbone: Backbone, preprocessing: str, layer: str,
                     cache: Cache, batch_size: int = 32, workers: int | None = None,
                     progress: Callable[[int], None] | None = None) -> np.ndarray:
    """(len(records), dim) float32 features; images already in the cache are not read again."""
    key = backbone.extractor_key(preprocessing, layer)
    rows: list[np.ndarray | None] = [cache.get_features(key, r.sha256) for r in records]
    todo = [i for i, row in enumerate(rows) if row is None]
    if progress:
        progress(len(records) - len(todo))
    if todo:
        def prepare(i: int) -> np.ndarray:
            return backbone.preprocess(read_image(records[i].path).pixels, preprocessing)

        batches = [todo[s:s + batch_size] for s in range(0, len(todo), batch_size)]
        # Decoding and resizing (PIL/numpy release the GIL) run one batch ahead of the network.
        with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
            def submit(batch: list[int]) -> list[Future]:
                return [pool.submit(prepare, i) for i in batch]

            pending = submit(batches[0])
            for n, batch in enumerate(batches):
                inputs = [f.result() for f in pending]
                if n + 1 < len(batches):
                    pending = submit(batches[n + 1])
                feats = backbone.features(inputs, layer)
                for i, row in zip(batch, feats):
                    rows[i] = row
                    cache.put_features(key, records[i].sha256, row)
                if progress:
                    progress(len(batch))
    return np.stack(rows).astype(np.float32)  # type: ignore[arg-type]
