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

A cache that cannot be written (a full disk, a store another process held past `rowstore.WAIT_S`, a folder
that refuses writes) is said once, naming the folder and what to do, and the run goes on without writing to
it: what the run computes from then on is kept in memory, so every later read in the run still finds it.
The cache only saves time; it never decides whether a run finishes.
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

from .files import atomic_write_bytes
from .rowstore import RowStore, StoreUnavailable, error_kind

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
        self.skipped: str | None = None  # why writes stopped ("full", "busy", "unusable"); None while they work
        self._kept_rows: dict[Path, dict[str, np.ndarray]] = {}  # rows not written, per model folder
        self._kept_files: dict[Path, bytes] = {}  # per-set values not written, as their files would hold them

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
        folder = self._folder(namespace, model_key)
        try:
            rows = self._store(namespace, model_key).get(items, shape)
        except StoreUnavailable as exc:
            self._skip(exc)
            rows = [None] * len(items)
        kept = self._kept_rows.get(folder)
        if kept:
            rows = [kept.get(item) if row is None else row for item, row in zip(items, rows)]
        missing = [i for i, row in enumerate(rows) if row is None]
        if missing and folder.joinpath(LEGACY_SHAPE).exists():
            self._migrate(namespace, model_key, items, rows, missing, shape)
        return rows

    def put_rows(self, namespace: str, model_key: str, rows: Iterable[tuple[str, np.ndarray]]) -> None:
        """Store rows (item sha256, row) in one transaction; kept in memory when the store cannot take them."""
        if not self.enabled:
            return
        rows = list(rows)
        if self.skipped is None:
            try:
                self._store(namespace, model_key).put(rows)
                return
            except StoreUnavailable as exc:
                self._skip(exc)
        self._kept_rows.setdefault(self._folder(namespace, model_key), {}).update(
            (item, np.array(row)) for item, row in rows)

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
            with np.load(io.BytesIO(self._read(path)), allow_pickle=False) as z:
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
        self._write_file(self._arrays_path(namespace, key), buf.getvalue())

    def get_json(self, namespace: str, key: str) -> Any:
        if not self.enabled:
            return None
        path = self.root / namespace / f"{key}.json"
        try:
            return json.loads(self._read(path).decode("utf-8"))
        except FileNotFoundError:
            return None
        except DAMAGED as exc:
            _damaged(path, exc)
            return None

    def put_json(self, namespace: str, key: str, value: Any) -> None:
        if self.enabled:
            self._write_file(self.root / namespace / f"{key}.json", json.dumps(value, sort_keys=True).encode("utf-8"))

    # --- a cache that cannot be written ------------------------------------------------------------
    def _read(self, path: Path) -> bytes:
        """A per-set value's bytes: from memory when this run could not write its file."""
        kept = self._kept_files.get(path)
        return path.read_bytes() if kept is None else kept

    def _write_file(self, path: Path, data: bytes) -> None:
        if self.skipped is None:
            try:
                atomic_write_bytes(path, data)
                return
            except OSError as exc:
                self._skip(StoreUnavailable(path, error_kind(exc), exc.strerror or str(exc)))
        self._kept_files[path] = data

    def _skip(self, exc: StoreUnavailable) -> None:
        """Stop writing for the rest of the run, said once: the run's numbers do not depend on the cache."""
        if self.skipped is not None:
            return
        self.skipped = exc.kind
        LOG.warning("%s", self._skip_message(exc))

    def _skip_message(self, exc: StoreUnavailable) -> str:
        going_on = ("scoring goes on without writing to the cache (what this run computes is kept in memory, the "
                    "results are the same; a later run computes it again)")
        if exc.kind == "busy":
            return (f"cache store {exc.path}: another process (another rank or run using this cache) held its "
                    f"write lock for more than {exc.waited:g} s, so the cache is skipped for this write and the rest "
                    f"of this run; {going_on}. The store is not damaged and is kept")
        if exc.kind == "full":
            return (f"the cache folder {self.root} is on a full disk ({exc.detail}, writing {exc.path}): {going_on}. "
                    f"Free space there, or point --cache-dir (or $CXRGEN_CACHE) at a disk with room")
        return (f"cannot write to the cache folder {self.root} ({exc.detail}, writing {exc.path}): {going_on}. "
                "Check that the folder is writable, or point --cache-dir (or $CXRGEN_CACHE) elsewhere")
