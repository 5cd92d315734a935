"""The content-addressed cache behind every provider of the evaluation context: image features,
feature statistics, text embeddings, generated reports, labels, and metric values computed from them.

One key scheme: a key is `key_of(...)` over the *content* of the inputs (image bytes or text, by
sha256, or a set's content hash), the model (kind, name, version, weights sha256) and everything else
that changes the numbers (preprocessing, layer, extraction, decoding settings, metric version) —
never names or paths. Per-item values (one row per image or text) live under the model's key and the
item's sha256; per-set values under one key. Writes are atomic (`files.py`): readers never see a
half-written entry, and two runs writing the same key both succeed with identical content. A damaged
entry reads as missing and is recomputed.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .files import atomic_write_bytes, atomic_write_text


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


class Cache:
    """Per-item rows (npy), per-set arrays (npz) and per-set JSON values, by namespace and key."""

    def __init__(self, root: str | Path | None = None, enabled: bool = True):
        self.root = Path(root) if root else default_cache_dir()
        self.enabled = enabled

    # --- one row per item (an image's features, a text's embedding or labels) ---------------------
    def _row_path(self, namespace: str, model_key: str, item_sha: str) -> Path:
        return self.root / namespace / model_key[:16] / item_sha[:2] / f"{item_sha}.npy"

    def get_row(self, namespace: str, model_key: str, item_sha: str) -> np.ndarray | None:
        if not self.enabled:
            return None
        try:
            return np.load(self._row_path(namespace, model_key, item_sha), allow_pickle=False)
        except (FileNotFoundError, ValueError, OSError, EOFError):
            return None  # missing or damaged: recompute (and overwrite) rather than fail

    def put_row(self, namespace: str, model_key: str, item_sha: str, row: np.ndarray) -> None:
        if not self.enabled:
            return
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(row), allow_pickle=False)
        atomic_write_bytes(self._row_path(namespace, model_key, item_sha), buf.getvalue())

    # --- one value per set (statistics, a metric's per-prompt values, ...) ------------------------
    def _arrays_path(self, namespace: str, key: str) -> Path:
        return self.root / namespace / f"{key}.npz"

    def get_arrays(self, namespace: str, key: str) -> dict[str, np.ndarray] | None:
        if not self.enabled:
            return None
        try:
            with np.load(self._arrays_path(namespace, key), allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (FileNotFoundError, ValueError, OSError, KeyError, EOFError):
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
        try:
            return json.loads((self.root / namespace / f"{key}.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError, OSError):
            return None

    def put_json(self, namespace: str, key: str, value: Any) -> None:
        if self.enabled:
            atomic_write_text(self.root / namespace / f"{key}.json", json.dumps(value, sort_keys=True))
