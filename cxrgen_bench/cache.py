"""The content-addressed cache behind every provider of the evaluation context: image features,
feature statistics, text embeddings, generated reports, labels, and metric values computed from them.

One key scheme: a key is `key_of(...)` over the *content* of the inputs (image bytes or text, by
sha256, or a set's content hash), the model (kind, name, version, weights sha256) and everything else
that changes the numbers (preprocessing, layer, extraction, decoding settings, metric version) —
never names or paths. Per-item values (one row per image or text) live under the model's key and the
item's sha256, in one SQLite store per model (`rowstore.py`); per-set values under one key, one file
each. Writes are atomic (`files.py`, and transactions in the store): readers never see a half-written
entry, and two runs writing the same key both succeed with identical content. A damaged entry
(truncated, unreadable, or a row of another shape than its model declares) reads as missing, is
recomputed and overwritten, with a warning naming the file.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .files import atomic_write_bytes, atomic_write_text
from .rowstore import RowStore

LOG = logging.getLogger(__name__)
# What reading a damaged file raises: numpy's header and pickle refusals, short reads, broken zips.
DAMAGED = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)
LEGACY_SHAPE = "row-shape.json"  # the mark of a model folder written one .npy file per row (before rowstore.py)


def default_cache_dir() -> Path:
    env = os.environ.get("CXRGEN_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cxrgen-bench"


def key_of(**parts: Any) -> str:
    """A stable hash of keyword parts (sorted, JSON-encoded)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def text_sha256(text: str) -> str:
    """The content key of a text item (a report, a prompt)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _damaged(path: Path, exc: Exception | str) -> None:
    LOG.warning("cache entry %s is damaged (%s): recomputing it", path, exc)


class Cache:
    """Per-item rows (npy), per-set arrays (npz) and per-set JSON values, by namespace and key."""

    def __init__(self, root: str | Path | None = None, enabled: bool = True):
        self.root = Path(root) if root else default_cache_dir()
        self.enabled = enabled
        self._stores: dict[Path, RowStore] = {}  # per model folder

    # --- one row per item (an image's features, a text's embedding or labels) ---------------------
    def _folder(self, namespace: str, model_key: str) -> Path:
        return self.root / namespace / model_key[:16]

    def _store(self, namespace: str, model_key: str) -> RowStore:
        folder = self._folder(namespace, model_key)
        if folder not in self._stores:
            self._stores[folder] = RowStore(folder)
        return self._stores[folder]

    def get_rows(self, namespace: str, model_key: str, items: Sequence[str],
                 shape: Sequence[int] | None = None) -> list[np.ndarray | None]:
        """Rows of ``items`` (content sha256s) under one model, None where absent or damaged; ``shape`` is
        what each row must be (the model's declared dimension), so a foreign or damaged row is recomputed."""
        if not self.enabled:
            return [None] * len(items)
        rows = self._store(namespace, model_key).get(items, shape)
        missing = [i for i, row in enumerate(rows) if row is None]
        if missing and self._folder(namespace, model_key).joinpath(LEGACY_SHAPE).exists():
            self._migrate(namespace, model_key, items, rows, missing, shape)
        return rows

    def put_rows(self, namespace: str, model_key: str, rows: Iterable[tuple[str, np.ndarray]]) -> None:
        """Store rows (item sha256, row) in one transaction."""
        if self.enabled:
            self._store(namespace, model_key).put(rows)

    def get_row(self, namespace: str, model_key: str, item_sha: str,
                shape: Sequence[int] | None = None) -> np.ndarray | None:
        return self.get_rows(namespace, model_key, [item_sha], shape)[0]

    def put_row(self, namespace: str, model_key: str, item_sha: str, row: np.ndarray) -> None:
        self.put_rows(namespace, model_key, [(item_sha, row)])

    def _migrate(self, namespace: str, model_key: str, items: Sequence[str], rows: list[np.ndarray | None],
                 missing: list[int], shape: Sequence[int] | None) -> None:
        """Rows of a cache written before the store (one .npy file per row, beside row-shape.json) are read
        once and copied into the store, so an old cache is not recomputed; the files are left in place."""
        folder = self._folder(namespace, model_key)
        try:
            recorded = list(json.loads((folder / LEGACY_SHAPE).read_text("utf-8"))["shape"])
        except (*DAMAGED, TypeError):
            recorded = None
        expected = list(shape) if shape is not None else recorded
        moved = []
        for i in missing:
            path = folder / items[i][:2] / f"{items[i]}.npy"
            try:
                row = np.load(path, allow_pickle=False)
            except FileNotFoundError:
                continue
            except DAMAGED as exc:
                _damaged(path, exc)
                continue
            if expected is not None and list(row.shape) != expected:
                _damaged(path, f"shape {list(row.shape)}, the model's rows have {expected}")
                continue
            rows[i] = row
            moved.append((items[i], row))
        self.put_rows(namespace, model_key, moved)

    # --- one value per set (statistics, a metric's per-prompt values, ...) ------------------------
    def _arrays_path(self, namespace: str, key: str) -> Path:
        return self.root / namespace / f"{key}.npz"

    def get_arrays(self, namespace: str, key: str) -> dict[str, np.ndarray] | None:
        if not self.enabled:
            return None
        path = self._arrays_path(namespace, key)
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except FileNotFoundError:
            return None
        except DAMAGED as exc:
            _damaged(path, exc)
            return None

    def put_arrays(self, namespace: str, key: str, arrays: dict[str, np.ndarray]) -> None:
        if not self.enabled:
            return
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(self._arrays_path(namespace, key), buf.getvalue())

    def get_json(self, namespace: str, key: str) -> Any:
        if not self.enabled:
            return None
        path = self.root / namespace / f"{key}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except DAMAGED as exc:
            _damaged(path, exc)
            return None

    def put_json(self, namespace: str, key: str, value: Any) -> None:
        if self.enabled:
            atomic_write_text(self.root / namespace / f"{key}.json", json.dumps(value, sort_keys=True))
