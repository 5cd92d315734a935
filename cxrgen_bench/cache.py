"""Content-addressed cache for features, statistics and per-prompt metric values.

Keys are hashes of *content* (image bytes, or an image set's content hash) combined with everything
that changes the numbers (backbone, weights sha256, preprocessing, layer, code version), never of
names or paths. Every write goes to a temporary file in the same directory and is renamed into
place, so readers never see a half-written entry and two concurrent runs writing the same key
simply both succeed with identical content.
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


class Cache:
    """Per-image feature rows, per-set statistics (npz) and per-set metric values (npz or JSON)."""

    def __init__(self, root: str | Path | None = None, enabled: bool = True):
        self.root = Path(root) if root else default_cache_dir()
        self.enabled = enabled

    def _feature_path(self, extractor_key: str, image_sha: str) -> Path:
        return self.root / "features" / extractor_key[:16] / image_sha[:2] / f"{image_sha}.npy"

    def get_features(self, extractor_key: str, image_sha: str) -> np.ndarray | None:
        if not self.enabled:
            return None
        path = self._feature_path(extractor_key, image_sha)
        try:
            return np.load(path, allow_pickle=False)
        except (FileNotFoundError, ValueError, OSError):
            return None  # missing or damaged: recompute (and overwrite) rather than fail

    def put_features(self, extractor_key: str, image_sha: str, row: np.ndarray) -> None:
        if not self.enabled:
            return
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(row), allow_pickle=False)
        atomic_write_bytes(self._feature_path(extractor_key, image_sha), buf.getvalue())

    def _arrays_path(self, namespace: str, key: str) -> Path:
        return self.root / namespace / f"{key}.npz"

    def get_arrays(self, namespace: str, key: str) -> dict[str, np.ndarray] | None:
        if not self.enabled:
            return None
        try:
            with np.load(self._arrays_path(namespace, key), allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (FileNotFoundError, ValueError, OSError, KeyError):
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
