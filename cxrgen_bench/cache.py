"""The content-addressed cache behind every provider of the evaluation context: image features,
feature statistics, text embeddings, generated reports, labels, and metric values computed from them.

One key scheme: a key is `key_of(...)` over the *content* of the inputs (image bytes or text, by
sha256, or a set's content hash), the model (kind, name, version, weights sha256) and everything else
that changes the numbers (preprocessing, layer, extraction, decoding settings, metric version) —
never names or paths. Per-item values (one row per image or text) live under the model's key and the
item's sha256; per-set values under one key. Writes are atomic (`files.py`): readers never see a
half-written entry, and two runs writing the same key both succeed with identical content. A damaged
entry (truncated, unreadable, or a row of another shape than its model's rows) reads as missing, is
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
from typing import Any

import numpy as np

from .files import atomic_write_bytes, atomic_write_text

LOG = logging.getLogger(__name__)
# What reading a damaged file raises: numpy's header and pickle refusals, short reads, broken zips.
DAMAGED = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


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
        self._row_shapes: dict[Path, list[int] | None] = {}  # per model folder, as read or written

    # --- one row per item (an image's features, a text's embedding or labels) ---------------------
    def _row_path(self, namespace: str, model_key: str, item_sha: str) -> Path:
        return self.root / namespace / model_key[:16] / item_sha[:2] / f"{item_sha}.npy"

    def _row_shape(self, folder: Path) -> list[int] | None:
        """The shape every row of one model shares, from the folder's row-shape.json (written with its
        first row); None for a folder written before that file existed."""
        if folder not in self._row_shapes:
            try:
                self._row_shapes[folder] = list(json.loads((folder / "row-shape.json").read_text("utf-8"))["shape"])
            except (*DAMAGED, TypeError):
                self._row_shapes[folder] = None
        return self._row_shapes[folder]

    def get_row(self, namespace: str, model_key: str, item_sha: str) -> np.ndarray | None:
        if not self.enabled:
            return None
        path = self._row_path(namespace, model_key, item_sha)
        try:
            row = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except DAMAGED as exc:
            _damaged(path, exc)
            return None
        expected = self._row_shape(path.parent.parent)
        if expected is not None and list(row.shape) != expected:
            _damaged(path, f"shape {list(row.shape)}, the model's rows have {expected}")
            return None
        return row

    def put_row(self, namespace: str, model_key: str, item_sha: str, row: np.ndarray) -> None:
        if not self.enabled:
            return
        row = np.ascontiguousarray(row)
        path = self._row_path(namespace, model_key, item_sha)
        folder = path.parent.parent
        if self._row_shape(folder) != list(row.shape):  # the first row, or a damaged record: a fresh row is right
            self._row_shapes[folder] = list(row.shape)
            atomic_write_text(folder / "row-shape.json", json.dumps({"shape": list(row.shape)}))
        buf = io.BytesIO()
        np.save(buf, row, allow_pickle=False)
        atomic_write_bytes(path, buf.getvalue())

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
