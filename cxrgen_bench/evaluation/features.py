"""Image features through a backbone, one cached row per image (keyed by its content): decoding and
preprocessing run in a thread pool one batch ahead of the network."""
from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Sequence

import numpy as np

from ..cache import Cache
from ..data.images import read_image
from ..data.manifest import ImageRecord
from ..models.image.base import Backbone
from ..progress import Progress, ProgressFactory, silent

NAMESPACE = "features"


def default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 2)))


def extract_features(records: Sequence[ImageRecord], backbone: Backbone, preprocessing: str, layer: str,
                     cache: Cache, batch_size: int = 32, workers: int | None = None,
                     progress: ProgressFactory = silent, desc: str = "") -> np.ndarray:
    """(len(records), dim) float32 features; images already in the cache are not read again."""
    key = backbone.extractor_key(preprocessing, layer)
    rows: list[np.ndarray | None] = [cache.get_row(NAMESPACE, key, r.sha256) for r in records]
    todo = [i for i, row in enumerate(rows) if row is None]
    bar = progress(len(records), desc or f"features {backbone.name}/{layer}", "images",
                   initial=len(records) - len(todo))
    with bar:
        if todo:
            _run(records, rows, todo, backbone, preprocessing, layer, cache, key, batch_size, workers, bar)
    return np.stack(rows).astype(np.float32)  # type: ignore[arg-type]


def _run(records: Sequence[ImageRecord], rows: list, todo: list[int], backbone: Backbone, preprocessing: str,
         layer: str, cache: Cache, key: str, batch_size: int, workers: int | None, bar: Progress) -> None:
    def prepare(i: int) -> np.ndarray:
        image = backbone.input_image(read_image(records[i].path), preprocessing)
        return backbone.preprocess(image, preprocessing)

    batches = [todo[s:s + batch_size] for s in range(0, len(todo), batch_size)]
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
                cache.put_row(NAMESPACE, key, records[i].sha256, row)
            bar.update(len(batch))
