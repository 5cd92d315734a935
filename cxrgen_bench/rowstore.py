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
with a warning; a file SQLite reports as not a database or malformed is set aside (``rows.sqlite.damaged``)
and a fresh one started.

A lock is contention, not damage. Two ranks opening a fresh file race to switch it to WAL, and SQLite answers
the loser "database is locked" at once, without calling its busy handler; a writer may also find another's
transaction under way. Both wait, up to WAIT_S seconds in all (`_patiently`), and are retried. A lock held
longer than that, a full disk, or a folder SQLite cannot write is `StoreUnavailable`: the caller (`Cache`)
goes on without writing to the cache. Nothing is set aside for these: the file is sound.
"""
from __future__ import annotations

import errno
import functools
import logging
import os
import sqlite3
import threading
import time
import zlib
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

import numpy as np

LOG = logging.getLogger(__name__)
T = TypeVar("T")
FILE = "rows.sqlite"
SCHEMA = ("CREATE TABLE IF NOT EXISTS rows (item TEXT PRIMARY KEY, dtype TEXT NOT NULL, shape TEXT NOT NULL, "
          "crc INTEGER NOT NULL, data BLOB NOT NULL)")
CHUNK = 500  # items per SELECT: under SQLite's limit on bound parameters
# The longest one operation waits for another process's lock. A rank's batch holds the write lock for
# milliseconds, so this is only reached when a process holds the store far longer than this suite ever does
# (a stuck run, an open `sqlite3` shell); then the cache is skipped rather than the run stalled.
WAIT_S = 120.0
# SQLite's primary result codes (Python >= 3.11 gives them as exc.sqlite_errorcode; the messages otherwise).
BUSY, LOCKED, CORRUPT, FULL, NOTADB = 5, 6, 11, 13, 26


def error_kind(exc: BaseException) -> str:
    """What an error from the store means: "busy" (another connection holds a lock), "full" (no space),
    "damaged" (SQLite's own integrity checks failed: not a database, malformed) or "unusable" (anything
    else the folder refuses: permissions, I/O errors, a read-only disk)."""
    if isinstance(exc, OSError):
        return "full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "unusable"
    code = getattr(exc, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF  # extended codes carry the primary one in the low byte
    text = str(exc).lower()
    if primary in (BUSY, LOCKED) or "database is locked" in text or "is busy" in text or "table is locked" in text:
        return "busy"
    if primary == FULL or "disk is full" in text:
        return "full"
    # sqlite3 raises these two as a plain DatabaseError; its subclasses are other things (a closed connection...)
    if primary in (CORRUPT, NOTADB) or "malformed" in text or "not a database" in text or \
            type(exc) is sqlite3.DatabaseError:
        return "damaged"
    return "unusable"


class StoreUnavailable(Exception):
    """The store cannot take rows now, though nothing is wrong with it: ``kind`` is "busy" (another process
    held its lock for more than ``waited`` seconds), "full" or "unusable" (`error_kind`)."""

    def __init__(self, path: Path, kind: str, detail: str, waited: float = 0.0):
        self.path, self.kind, self.detail, self.waited = path, kind, detail, waited
        super().__init__(f"{path}: {detail}")


class RowStore:
    """The rows of one model folder; safe to share between threads (one connection, a lock) and processes."""

    def __init__(self, folder: Path, wait: float | None = None):
        self.folder = folder
        self.path = folder / FILE
        self.wait = WAIT_S if wait is None else wait  # read when made: tests shorten WAIT_S
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pid = -1

    # --- the connection ----------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._db is not None and self._pid == os.getpid():
            return self._db
        try:
            self.folder.mkdir(parents=True, exist_ok=True)  # a forked child opens its own connection (SQLite's rule)
            try:
                db = self._patiently(self._open)
            except sqlite3.DatabaseError as exc:
                if error_kind(exc) != "damaged":
                    raise
                self._set_aside(exc)
                db = self._patiently(self._open)
        except (OSError, sqlite3.DatabaseError) as exc:
            if error_kind(exc) == "damaged":  # still, in the fresh file: nothing left to try
                raise
            raise self._unavailable(exc) from exc
        self._db, self._pid = db, os.getpid()
        return db

    def _set_aside(self, exc: sqlite3.DatabaseError) -> None:
        """Only for a file SQLite itself finds damaged: its rows are lost either way, so a fresh store starts."""
        LOG.warning("cache store %s is damaged (%s): set aside as %s.damaged, recomputing its rows",
                    self.path, exc, FILE)
        for suffix in ("", "-wal", "-shm"):
            side = Path(f"{self.path}{suffix}")
            if side.exists():
                os.replace(side, Path(f"{self.path}.damaged{suffix}"))

    def _open(self) -> sqlite3.Connection:
        # SQLite's busy handler waits up to `wait` on most locks; `_patiently` covers the ones it answers at once
        db = sqlite3.connect(self.path, timeout=self.wait, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
            db.execute("PRAGMA synchronous=NORMAL")  # a power cut may lose the last batches, never damage the file
            db.execute(SCHEMA)
            db.execute("SELECT count(*) FROM rows LIMIT 1").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _patiently(self, action: Callable[[], T]) -> T:
        """``action()``, retried while another connection holds a lock, for at most `wait` seconds in all."""
        deadline = time.monotonic() + self.wait
        pause = 0.005
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                left = deadline - time.monotonic()
                if error_kind(exc) != "busy" or left <= 0:
                    raise
                time.sleep(min(pause, left))
                pause = min(2 * pause, 0.25)

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        """A lock held too long, a full disk or a refusing folder, said so that the caller goes on without it."""
        kind = error_kind(exc)
        detail = f"another process held its lock for more than {self.wait:g} s" if kind == "busy" else \
            (getattr(exc, "strerror", None) or str(exc))
        return StoreUnavailable(self.path, kind, detail, self.wait if kind == "busy" else 0.0)

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
                sql = f"SELECT item, dtype, shape, crc, data FROM rows WHERE item IN ({','.join('?' * len(chunk))})"
                try:
                    selected = self._patiently(functools.partial(_fetch, db, sql, chunk))
                    found.update((r[0], r[1:]) for r in selected)
                except sqlite3.DatabaseError as exc:
                    if error_kind(exc) != "damaged":
                        raise self._unavailable(exc) from exc
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
        replaced (a damaged one, or the same values from another writer). `StoreUnavailable` when the rows
        could not be written for a reason other than damage (nothing of them is then in the store)."""
        records = [_record(item, row) for item, row in rows]
        if not records:
            return
        with self._lock:
            db = self._connect()
            try:
                # IMMEDIATE takes the write lock now: no deadlock upgrading a read lock
                self._patiently(lambda: db.execute("BEGIN IMMEDIATE"))
                try:
                    db.executemany("INSERT OR REPLACE INTO rows VALUES (?, ?, ?, ?, ?)", records)
                    self._patiently(lambda: db.execute("COMMIT"))
                except BaseException:
                    if db.in_transaction:  # SQLite rolls back by itself after some errors (a full disk)
                        db.execute("ROLLBACK")
                    raise
            except (OSError, sqlite3.OperationalError) as exc:
                if error_kind(exc) == "damaged":
                    raise
                raise self._unavailable(exc) from exc

    def __len__(self) -> int:
        with self._lock:
            return int(self._connect().execute("SELECT count(*) FROM rows").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None


def _record(item: str, row: np.ndarray) -> tuple[str, str, str, int, bytes]:
    """A row as the table holds it: item, dtype, shape, CRC-32 of the bytes, the bytes."""
    row = np.ascontiguousarray(row)
    data = row.tobytes()
    return item, row.dtype.str, ",".join(str(d) for d in row.shape), zlib.crc32(data), data


def _fetch(db: sqlite3.Connection, sql: str, parameters: Sequence[str]) -> list[tuple]:
    return db.execute(sql, parameters).fetchall()
