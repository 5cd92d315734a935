"""Image features through backbones, one cached row per image and model (keyed by the image's content).

`compute` is the one engine: an image is read and decoded once, then preprocessed for every extractor
that still needs it (today's runs ask for up to five backbones), in a thread pool that works one batch
ahead of the networks. Decoding and resizing run in C with the GIL released (Pillow, numpy, torch), so
threads keep up with the networks here (benchmarks/README.md, "Scoring end to end": the decode rate
beside the network rate) without the start-up and pickling costs of worker processes.
"""
from __future__ import annotations

import itertools
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..cache import Cache, key_of
from ..errors import InputError
from ..data.images import read_image
from ..data.manifest import ImageRecord
from ..models.image.base import Backbone
from ..progress import ProgressFactory, silent

NAMESPACE = "features"
STREAM_ROWS = 4096  # rows read at a time where a statistic streams (memory bounded by this, not by the set)
# From this many images on, a set's feature matrix is handed to the metrics as a memory map of a temporary
# file (filled from the store STREAM_ROWS rows at a time) instead of an array in memory: KID's subsets,
# FD∞'s draws and the blocked kernels read the rows they touch (benchmarks/README.md, "Feature matrices").
MMAP_ROWS = 16384


def default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 2)))


@dataclass(frozen=True)
class Extractor:
    """One backbone's features at one preprocessing and layer: a model key and a declared row shape."""

    backbone: Backbone
    preprocessing: str
    layer: str

    @property
    def key(self) -> str:
        return self.backbone.extractor_key(self.preprocessing, self.layer)

    @property
    def shape(self) -> tuple[int, ...] | None:
        """What every row must be: the layer's declared dimension (a damaged or foreign cache whose rows
        agree with each other but not with the model is recomputed, not read as features)."""
        dim = getattr(self.backbone, "layers", {}).get(self.layer)
        return (int(dim),) if dim else None  # 0: a width the backbone learns from its first image (radiomics)

    def prepare(self, loaded) -> np.ndarray:
        return self.backbone.preprocess(self.backbone.input_image(loaded, self.preprocessing), self.preprocessing)


def missing(records: Sequence[ImageRecord], extractor: Extractor, cache: Cache) -> list[ImageRecord]:
    """The distinct images (by content) whose rows the cache lacks or holds damaged."""
    distinct = list({r.sha256: r for r in records}.values())
    have = cache.get_rows(NAMESPACE, extractor.key, [r.sha256 for r in distinct], extractor.shape)
    return [r for r, row in zip(distinct, have) if row is None]


Sink = Callable[[int, list[ImageRecord], np.ndarray], None]  # (job index, images, their features)


def compute(jobs: Sequence[tuple[Extractor, Sequence[ImageRecord]]], cache: Cache, batch_size: int = 32,
            workers: int | None = None, progress: ProgressFactory = silent, desc: str = "features",
            sink: Sink | None = None) -> None:
    """Compute and store the rows each job lists: every image decoded once for all the extractors that need
    it. Rows are stored batch by batch (a killed run keeps what it finished); ``sink`` sees each batch too."""
    needs: dict[str, list[int]] = {}
    images: dict[str, ImageRecord] = {}
    for j, (_, records) in enumerate(jobs):
        for r in records:
            images.setdefault(r.sha256, r)
            if j not in needs.setdefault(r.sha256, []):
                needs[r.sha256].append(j)
    order = list(images)
    if not order:
        return

    def prepare(sha: str) -> dict[int, np.ndarray]:
        loaded = read_image(images[sha].path)  # decoded once, whatever number of backbones need it
        return {j: jobs[j][0].prepare(loaded) for j in needs[sha]}

    batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    total = sum(len(v) for v in needs.values())
    with progress(total, desc, "rows") as bar, ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        def submit(batch: list[str]) -> list[Future]:
            return [pool.submit(prepare, sha) for sha in batch]

        pending = submit(batches[0])
        for n, batch in enumerate(batches):
            prepared = [f.result() for f in pending]
            if n + 1 < len(batches):
                pending = submit(batches[n + 1])  # the next batch decodes while the networks run
            for j, (extractor, _) in enumerate(jobs):
                which = [i for i, p in enumerate(prepared) if j in p]
                if not which:
                    continue
                feats = np.asarray(extractor.backbone.features([prepared[i][j] for i in which], extractor.layer),
                                   dtype=np.float32)
                done = [images[batch[i]] for i in which]
                cache.put_rows(NAMESPACE, extractor.key, [(r.sha256, row) for r, row in zip(done, feats)])
                if sink is not None:
                    sink(j, done, feats)
                bar.update(len(which))


def extract_features(records: Sequence[ImageRecord], backbone: Backbone, preprocessing: str, layer: str,
                     cache: Cache, batch_size: int = 32, workers: int | None = None,
                     progress: ProgressFactory = silent, desc: str = "",
                     matrices: dict[str, FeatureMatrix] | None = None) -> np.ndarray:
    """(len(records), dim) float32 features; images already in the cache are not read again. From MMAP_ROWS
    images on (with the cache on), a copy-on-write memory map (`FeatureMatrix`) rather than an array in memory;
    ``matrices`` (a run's memo, by extractor and records) lets every metric of the run map the one file."""
    extractor = Extractor(backbone, preprocessing, layer)
    if cache.enabled and len(records) >= MMAP_ROWS:
        key = key_of(kind="matrix", model=extractor.key, inputs=[r.sha256 for r in records])
        if matrices is not None and key in matrices:
            return matrices[key].view()
        todo = missing(records, extractor, cache)
        if todo:
            compute([(extractor, todo)], cache, batch_size, workers, progress,
                    desc or f"features {backbone.name}/{layer}")
        matrix = FeatureMatrix(records, extractor, cache)
        if matrices is not None:
            matrices[key] = matrix
        return matrix.view()
    shas = [r.sha256 for r in records]
    rows: dict[str, np.ndarray] = {}
    for sha, row in zip(shas, cache.get_rows(NAMESPACE, extractor.key, shas, extractor.shape)):
        if row is not None:
            rows[sha] = row
    todo = list({r.sha256: r for r in records if r.sha256 not in rows}.values())
    if todo:
        def keep(_: int, done: list[ImageRecord], feats: np.ndarray) -> None:
            rows.update((r.sha256, row) for r, row in zip(done, feats))

        compute([(extractor, todo)], cache, batch_size, workers, progress,
                desc or f"features {backbone.name}/{layer}", sink=keep)
    if not records:
        return np.zeros((0,) + (extractor.shape or (0,)), np.float32)
    return np.stack([rows[s] for s in shas]).astype(np.float32, copy=False)


class FeatureMatrix:
    """The rows of a set written once into an unlinked temporary file beside the cache; `view` maps it
    copy-on-write (float32, (n, dim)): the pages are the kernel's to drop, so memory holds what a metric
    touches, not the set, and a metric writing into its view (centring in place) changes neither the file nor
    another view. The file goes with this object and the last view."""

    def __init__(self, records: Sequence[ImageRecord], extractor: Extractor, cache: Cache):
        chunks = stream_rows(records, extractor, cache)
        first = next(chunks)
        self.shape = (len(records), extractor.shape[0] if extractor.shape else first.shape[1])
        folder = cache.root / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        size = self.shape[0] * self.shape[1] * 4
        self.handle = tempfile.TemporaryFile(dir=folder)  # unlinked at once: nothing is left if the run dies
        try:  # the blocks are reserved now: a full disk is this error, not a bus error while filling the map
            os.posix_fallocate(self.handle.fileno(), 0, size)
        except OSError as exc:
            self.handle.close()
            raise InputError(f"no room for the {self.shape[0]} × {self.shape[1]} feature matrix ({size / 1e9:.2f} GB) "
                             f"in {folder}: {exc.strerror}; free space there or point --cache-dir at a larger disk") \
                from None
        matrix = np.memmap(self.handle, dtype=np.float32, mode="r+", shape=self.shape)
        start = 0
        for chunk in itertools.chain([first], chunks):
            matrix[start:start + len(chunk)] = chunk
            start += len(chunk)
        matrix.flush()

    def view(self) -> np.memmap:
        return np.memmap(self.handle, dtype=np.float32, mode="c", shape=self.shape)


def feature_matrix(records: Sequence[ImageRecord], extractor: Extractor, cache: Cache) -> np.ndarray:
    """(len(records), dim) float32 rows of ``records`` (all in the cache) as a copy-on-write memory map
    (`FeatureMatrix`)."""
    return FeatureMatrix(records, extractor, cache).view()


def stream_rows(records: Sequence[ImageRecord], extractor: Extractor, cache: Cache):
    """The rows of ``records`` (all in the cache), STREAM_ROWS at a time, in order: for statistics that
    never hold the whole set."""
    for start in range(0, len(records), STREAM_ROWS):
        chunk = records[start:start + STREAM_ROWS]
        rows = cache.get_rows(NAMESPACE, extractor.key, [r.sha256 for r in chunk], extractor.shape)
        lost = [r.path for r, row in zip(chunk, rows) if row is None]
        if lost:  # written a moment ago: only another process clearing the cache gets here
            raise RuntimeError(f"{len(lost)} feature rows vanished from the cache while streaming, e.g. {lost[0]}")
        yield np.stack(rows)
