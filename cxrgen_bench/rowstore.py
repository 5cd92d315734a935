"""Per-item rows of one model (an image's features, a text's embedding or labels) in one SQLite file.

Why not a file per row, as the cache first did: at a million images and five backbones that is five
million files, which shared filesystems handle badly, and every row paid a create, an fsync and a rename.
At 100,000 rows of 2,048 float32 (benchmarks/README.md, "Feature store") the store writes 6.8× and reads
4.7× faster than files, in 3 files instead of 100,000, on 28 % less disk. LMDB was faster still (1.2× the
writes, 4.3× the reads) but is another dependency, grows its map file in large steps (40 % more disk
here) and, like SQLite, allows one writer at a time; the store's 10,000 rows/s written and 50,000 read are
far above what any backbone computes (a GPU's ~1,000 images/s), so the standard library won. A batch of
rows is one transaction (a killed run leaves whole rows or none); several processes may write one file
(ranks of a sharded run, two runs at once: SQLite serialises the writers, and in WAL mode readers never
wait). Like any SQLite database it needs a filesystem with working POSIX locks: on NFS or Lustre give each
node its own ``--cache-dir`` (docs/scale-out.md).

Each row carries its dtype, its shape and a CRC-32 of its bytes: a row that does not check out (a damaged
page, a row of another shape than the caller expects) reads as missing and is recomputed and overwritten,
with a warning; a file SQLite cannot open as a database is set aside (``rows.sqlite.damaged``) and a fresh
one started.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import zlib
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

LOG = logging.getLogger(__name__)
FILE = "rows.sqlite"
SCHEMA = ("CREATE TABLE IF NOT EXISTS rows (item TEXT PRIMARY KEY, dtype TEXT NOT NULL, shape TEXT NOT NULL, "
          "crc INTEGER NOT NULL, data BLOB NOT NULL)")
CHUNK = 500  # items per SELECT: under SQLite's limit on bound parameters


class RowStore:
    """The rows of one model folder; safe to share between threads (one connection, a lock) and processes."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / FILE
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pid = -1

    # --- the connection ----------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._db is not None and self._pid == os.getpid():
            return self._db
        self.folder.mkdir(parents=True, exist_ok=True)  # a forked child opens its own connection (SQLite's rule)
        try:
            db = self._open()
        except sqlite3.DatabaseError as exc:  # not a database, or a damaged header: set aside, start again
            LOG.warning("cache store %s is damaged (%s): set aside as %s.damaged, recomputing its rows",
                        self.path, exc, FILE)
            for suffix in ("", "-wal", "-shm"):
                side = Path(f"{self.path}{suffix}")
                if side.exists():
                    os.replace(side, Path(f"{self.path}.damaged{suffix}"))
            db = self._open()
        self._db, self._pid = db, os.getpid()
        return db

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=600.0, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
            db.execute("PRAGMA synchronous=NORMAL")  # a power cut may lose the last batches, never damage the file
            db.execute(SCHEMA)
            db.execute("SELECT count(*) FROM rows LIMIT 1").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    # --- rows ----------------------------------------------------------------------------------------
    def get(self, items: Sequence[str], shape: Sequence[int] | None = None) -> list[np.ndarray | None]:
        """The rows of ``items`` (None where absent or damaged). ``shape``: what every row must be (a model's
        declared feature dimension); a row of another shape is damaged, however many agree with it."""
        found: dict[str, tuple[str, str, int, bytes]] = {}
        wanted = list(dict.fromkeys(items))
        with self._lock:
            db = self._connect()
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start:start + CHUNK]
                try:
                    cursor = db.execute(f"SELECT item, dtype, shape, crc, data FROM rows WHERE item IN "
                                        f"({','.join('?' * len(chunk))})", chunk)
                    found.update((r[0], r[1:]) for r in cursor)
                except sqlite3.DatabaseError as exc:  # a damaged page: these rows are recomputed
                    LOG.warning("cache store %s: rows unreadable (%s): recomputing them", self.path, exc)
        out: list[np.ndarray | None] = []
        for item in items:
            record = found.get(item)
            out.append(None if record is None else self._row(item, *record, shape=shape))
        return out

    def _row(self, item: str, dtype: str, shape_text: str, crc: int, data: bytes,
             shape: Sequence[int] | None) -> np.ndarray | None:
        try:
            dims = [int(d) for d in shape_text.split(",") if d] if shape_text else []
            if zlib.crc32(data) != crc:
                raise ValueError("checksum mismatch")
            row = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(dims)
        except (ValueError, TypeError) as exc:
            LOG.warning("cache row %s of %s is damaged (%s): recomputing it", item, self.path, exc)
            return None
        if shape is not None and list(row.shape) != list(shape):
            LOG.warning("cache row %s of %s has shape %s, the model's rows have %s: recomputing it",
                        item, self.path, list(row.shape), list(shape))
            return None
        return row.copy()  # writable, and not tied to SQLite's buffer

    def put(self, rows: Iterable[tuple[str, np.ndarray]]) -> None:
        """Write rows in one transaction (a killed run leaves all of them or none); a row already there is
        replaced (a damaged one, or the same values from another writer)."""
        records = []
        for item, row in rows:
            row = np.ascontiguousarray(row)
            data = row.tobytes()
            records.append((item, row.dtype.str, ",".join(str(d) for d in row.shape), zlib.crc32(data), data))
        if not records:
            return
        with self._lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")  # take the write lock now: no deadlock upgrading a read lock
            try:
                db.executemany("INSERT OR REPLACE INTO rows VALUES (?, ?, ?, ?, ?)", records)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def __len__(self) -> int:
        with self._lock:
            return int(self._connect().execute("SELECT count(*) FROM rows").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None
