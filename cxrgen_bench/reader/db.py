"""The reader study's SQLite database: schema, opening checks, and every query the server makes.

Durability: WAL journal, `synchronous=FULL`, and one `BEGIN IMMEDIATE … COMMIT` per answer; the
server answers a submission only after its commit returned, so an acknowledged answer is on disk even if
the server is killed the next instant. Concurrency: WAL lets readers read while one writer writes;
writers wait for each other (busy timeout), never fail or interleave.

Who reads what: the server's reader routes use connections opened with ``role="reader"``, whose SQLite
authorizer refuses any read of ``answer_key`` (which image is real, which generator, original file
names) and of ``meta`` (the admin token); a query that tried would fail, not leak. Each reader's queries
filter on that reader's id, found from the token in their link by constant-time comparison.
"""
from __future__ import annotations

import hmac
import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError

FORMAT = 1  # the study folder's format; a newer one is refused with a message, never misread
DB_NAME = "study.db"
IMAGES_DIR = "images"
READERS_CSV = "readers.csv"
STUDY_JSON = "study.json"
BUSY_TIMEOUT_MS = 30_000
MAX_COMMENT = 4_000
MAX_SECONDS = 6 * 3600.0  # a reader away for longer did not spend that time on the item

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE readers (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, token TEXT NOT NULL UNIQUE, csrf TEXT NOT NULL);
CREATE TABLE images (name TEXT PRIMARY KEY, sha256 TEXT NOT NULL, bytes INTEGER NOT NULL);
-- what a reader may see of an item: its task, the prompt (alignment) and its images (realism: a and b in
-- an order drawn at creation; each reader sees them swapped or not, see assignments.swap)
CREATE TABLE items (
    id INTEGER PRIMARY KEY, task TEXT NOT NULL CHECK (task IN ('realism', 'alignment')), prompt TEXT,
    image_a TEXT NOT NULL REFERENCES images(name), image_b TEXT REFERENCES images(name));
-- the answer key: never read by a reader route (the reader connections' authorizer refuses it)
CREATE TABLE answer_key (
    item_id INTEGER PRIMARY KEY REFERENCES items(id), unit TEXT NOT NULL, prompt_id TEXT NOT NULL,
    generator TEXT NOT NULL, finding TEXT NOT NULL, real_image TEXT CHECK (real_image IN ('a', 'b')),
    source_a TEXT NOT NULL, source_b TEXT, sample_a INTEGER, sample_b INTEGER);
CREATE TABLE assignments (
    id INTEGER PRIMARY KEY, public_id TEXT NOT NULL UNIQUE, reader_id INTEGER NOT NULL REFERENCES readers(id),
    item_id INTEGER NOT NULL REFERENCES items(id), position INTEGER NOT NULL, swap INTEGER NOT NULL CHECK (swap IN (0, 1)),
    UNIQUE (reader_id, position), UNIQUE (reader_id, item_id));
-- the current answer of each assignment (a changed answer replaces it; every submission stays in submissions)
CREATE TABLE answers (
    assignment_id INTEGER PRIMARY KEY REFERENCES assignments(id),
    choice INTEGER NOT NULL CHECK (choice BETWEEN -2 AND 2), comment TEXT NOT NULL,
    seconds REAL NOT NULL, first_answered_at TEXT NOT NULL, answered_at TEXT NOT NULL, revisions INTEGER NOT NULL);
-- every submission once: the nonce of the page it came from makes a re-sent form a no-op
CREATE TABLE submissions (
    nonce TEXT PRIMARY KEY, assignment_id INTEGER NOT NULL REFERENCES assignments(id),
    choice INTEGER NOT NULL, comment TEXT NOT NULL, seconds REAL NOT NULL, wall_seconds REAL,
    received_at TEXT NOT NULL);
CREATE INDEX assignments_by_reader ON assignments (reader_id, position);
"""
# What the reader routes may never read
SECRET_TABLES = frozenset({"answer_key", "meta"})


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def damaged(path: Path, exc: BaseException) -> InputError:
    return InputError(
        f"{path}: the study database is damaged or not a database (SQLite says: {exc}). Nothing was changed. "
        f"Restore {path.name} from a backup together with the {path.name}-wal file beside it (which holds the "
        "latest answers), or run `sqlite3 study.db .recover` on a copy; the answers are not lost while those "
        "files are kept.")


def _deny_secrets(action: int, arg1: str | None, arg2: str | None, dbname: str | None, source: str | None) -> int:
    if action == sqlite3.SQLITE_READ and arg1 in SECRET_TABLES:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def connect(path: Path, role: str = "owner", create: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit); ``role="reader"`` cannot read the key."""
    mode = "rwc" if create else "rw"
    try:
        conn = sqlite3.connect(f"file:{path}?mode={mode}", uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                               isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if create:
            conn.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        raise damaged(path, exc) from None
    if role == "reader":
        conn.set_authorizer(_deny_secrets)
    return conn


class transaction:
    """``with transaction(conn):`` BEGIN IMMEDIATE … COMMIT (ROLLBACK on any error): the write lock is
    taken up front, so two writers queue instead of failing half-way."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


def check_study(folder: Path, verify_images: bool = True) -> dict[str, Any]:
    """Refuse what would fail later, with a message saying what to do: no study here, a study from a
    newer cxrgen-bench, a damaged database, a missing or changed image. Returns the study's settings."""
    folder = Path(folder)
    db = folder / DB_NAME
    if not folder.is_dir():
        raise InputError(f"{folder}: no such study folder (make one with `cxrgen-bench reader-study create`)")
    if not db.is_file():
        raise InputError(f"{folder}: not a reader study folder ({DB_NAME} is missing); point to the folder that "
                         "`cxrgen-bench reader-study create --out` wrote")
    conn = connect(db)
    try:
        try:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise damaged(db, sqlite3.DatabaseError(check))
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise damaged(db, exc) from None
        try:
            version = int(meta.get("format", ""))
        except ValueError:
            raise damaged(db, sqlite3.DatabaseError("no study format recorded")) from None
        if version > FORMAT:
            from ..version import __version__

            raise InputError(f"{folder}: this study was made by a newer cxrgen-bench (study format {version}; "
                             f"cxrgen-bench {meta.get('cxrgen_bench', '?')}); this is cxrgen-bench {__version__}, "
                             f"which reads study format {FORMAT} and older. Upgrade cxrgen-bench to serve or analyse "
                             "it; the folder was not changed.")
        if verify_images:
            _verify_images(folder, conn)
        return json.loads(meta.get("settings", "{}"))
    finally:
        conn.close()


def _verify_images(folder: Path, conn: sqlite3.Connection) -> None:
    import hashlib

    root = folder / IMAGES_DIR
    missing, changed = [], []
    for name, digest, size in conn.execute("SELECT name, sha256, bytes FROM images ORDER BY name"):
        path = root / name
        if path.is_symlink() or not path.is_file():
            missing.append(name)
            continue
        data = path.read_bytes()
        if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
            changed.append(name)
    if missing or changed:
        parts = []
        if missing:
            parts.append(f"{len(missing)} image(s) missing from {root} (or replaced by links): "
                         f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
        if changed:
            parts.append(f"{len(changed)} image(s) changed since the study was created: "
                         f"{', '.join(changed[:5])}{' …' if len(changed) > 5 else ''}")
        raise InputError(f"{folder}: {'; '.join(parts)}. Readers would be shown something other than what the "
                         "study drew: restore the images folder from the study's backup (or copy the whole study "
                         "folder again); the database and the answers in it are untouched.")


@dataclass(frozen=True)
class Reader:
    id: int
    name: str
    csrf: str


class StudyDB:
    """The queries of the web app, on one connection per thread (the server runs handlers on a pool)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / DB_NAME
        self.images = (self.folder / IMAGES_DIR).resolve()
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        owner = connect(self.path)
        try:
            self.admin_token = owner.execute("SELECT value FROM meta WHERE key = 'admin_token'").fetchone()[0]
            self.readers = [Reader(i, n, c) for i, n, c in
                            owner.execute("SELECT id, name, csrf FROM readers ORDER BY id")]
            self._tokens = [(t, i) for i, t in owner.execute("SELECT id, token FROM readers ORDER BY id")]
        finally:
            owner.close()

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, role="reader")
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._opened:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._opened.clear()

    # --- who is asking ------------------------------------------------------------------------------
    def reader_for(self, token: str) -> Reader | None:
        """The reader whose token this is; every token is compared (in constant time), so the time taken
        says nothing about which reader or how many characters matched."""
        found = None
        given = token.encode()
        for stored, reader_id in self._tokens:
            if hmac.compare_digest(stored.encode(), given):
                found = reader_id
        return next((r for r in self.readers if r.id == found), None)

    def is_admin(self, token: str) -> bool:
        return hmac.compare_digest(self.admin_token.encode(), token.encode())

    # --- a reader's own items -----------------------------------------------------------------------
    def total(self, reader: Reader) -> int:
        return self.conn().execute("SELECT COUNT(*) FROM assignments WHERE reader_id = ?", (reader.id,)).fetchone()[0]

    def answered(self, reader: Reader) -> int:
        return self.conn().execute(
            "SELECT COUNT(*) FROM answers JOIN assignments a ON a.id = answers.assignment_id WHERE a.reader_id = ?",
            (reader.id,)).fetchone()[0]

    def first_unanswered(self, reader: Reader) -> int | None:
        row = self.conn().execute(
            "SELECT MIN(a.position) FROM assignments a LEFT JOIN answers ON answers.assignment_id = a.id "
            "WHERE a.reader_id = ? AND answers.assignment_id IS NULL", (reader.id,)).fetchone()
        return row[0]

    def item(self, reader: Reader, position: int) -> dict[str, Any] | None:
        row = self.conn().execute(
            "SELECT a.public_id, a.swap, i.task, i.prompt, i.image_a, i.image_b, ans.choice, ans.comment "
            "FROM assignments a JOIN items i ON i.id = a.item_id "
            "LEFT JOIN answers ans ON ans.assignment_id = a.id WHERE a.reader_id = ? AND a.position = ?",
            (reader.id, position)).fetchone()
        if row is None:
            return None
        public_id, swap, task, prompt, image_a, image_b, choice, comment = row
        images = [image_a] if task == "alignment" else ([image_b, image_a] if swap else [image_a, image_b])
        return {"position": position, "public_id": public_id, "task": task, "prompt": prompt if task == "alignment"
                else None, "images": images, "answer": None if choice is None else {"choice": choice,
                                                                                  "comment": comment}}

    def answers_list(self, reader: Reader) -> list[tuple[int, str, int | None]]:
        """(position, task, choice or None) of every item of the reader, in order (the overview page)."""
        return self.conn().execute(
            "SELECT a.position, i.task, ans.choice FROM assignments a JOIN items i ON i.id = a.item_id "
            "LEFT JOIN answers ans ON ans.assignment_id = a.id WHERE a.reader_id = ? ORDER BY a.position",
            (reader.id,)).fetchall()

    def reader_may_see(self, reader: Reader, name: str) -> bool:
        row = self.conn().execute(
            "SELECT 1 FROM assignments a JOIN items i ON i.id = a.item_id WHERE a.reader_id = ? AND "
            "(i.image_a = ? OR i.image_b = ?) LIMIT 1", (reader.id, name, name)).fetchone()
        return row is not None

    def save(self, reader: Reader, position: int, public_id: str, choice: int, comment: str, seconds: float,
             wall_seconds: float | None, nonce: str) -> str:
        """Store one answer in its own transaction; "saved", "duplicate" (this form was already stored:
        nothing changes) or "stale" (the position holds another item: a form of another page or reader)."""
        conn = self.conn()
        stamp = now()
        with transaction(conn):
            row = conn.execute("SELECT id, public_id FROM assignments WHERE reader_id = ? AND position = ?",
                               (reader.id, position)).fetchone()
            if row is None or not hmac.compare_digest(row[1].encode(), public_id.encode()):
                return "stale"
            assignment = row[0]
            # the nonce is per page view; prefixing the assignment keeps one reader's nonce from colliding
            # with another's
            key = f"{assignment}:{nonce}"
            if conn.execute("SELECT 1 FROM submissions WHERE nonce = ?", (key,)).fetchone():
                return "duplicate"
            conn.execute("INSERT INTO submissions (nonce, assignment_id, choice, comment, seconds, wall_seconds, "
                         "received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (key, assignment, choice, comment, seconds, wall_seconds, stamp))
            conn.execute(
                "INSERT INTO answers (assignment_id, choice, comment, seconds, first_answered_at, answered_at, "
                "revisions) VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT (assignment_id) DO UPDATE SET "
                "choice = excluded.choice, comment = excluded.comment, seconds = answers.seconds + excluded.seconds, "
                "answered_at = excluded.answered_at, revisions = answers.revisions + 1",
                (assignment, choice, comment, seconds, stamp, stamp))
        return "saved"

    # --- the admin page (no key either: progress and the answers as entered) -----------------------------
    def progress(self) -> list[dict[str, Any]]:
        return progress(self.conn())

    def export_rows(self) -> list[dict[str, Any]]:
        return answer_rows(self.conn(), with_key=False)


def progress(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Per reader: items answered of all, per task, the last answer's time and the median seconds per item."""
    out = []
    for reader_id, name in conn.execute("SELECT id, name FROM readers ORDER BY id").fetchall():
        rows = conn.execute(
            "SELECT i.task, ans.choice IS NOT NULL, ans.seconds, ans.answered_at FROM assignments a "
            "JOIN items i ON i.id = a.item_id LEFT JOIN answers ans ON ans.assignment_id = a.id "
            "WHERE a.reader_id = ?", (reader_id,)).fetchall()
        per_task = {}
        for task in ("realism", "alignment"):
            mine = [r for r in rows if r[0] == task]
            per_task[task] = {"answered": sum(1 for r in mine if r[1]), "total": len(mine)}
        seconds = sorted(r[2] for r in rows if r[1])
        last = max((r[3] for r in rows if r[1]), default=None)
        out.append({"reader": name, "answered": sum(1 for r in rows if r[1]), "total": len(rows), "tasks": per_task,
                    "median_seconds": seconds[len(seconds) // 2] if seconds else None, "last_answer": last})
    return out


EXPORT_COLUMNS = ("reader", "assignment", "position", "task", "choice", "comment", "seconds", "revisions",
                  "first_answered_at", "answered_at")
KEY_COLUMNS = ("item", "unit", "prompt_id", "generator", "finding", "real_on_right", "rating", "source_a", "source_b")


def answer_rows(conn: sqlite3.Connection, with_key: bool) -> list[dict[str, Any]]:
    """Every answer, in reader and position order. ``choice`` is what the reader entered (realism: −2 left
    much more realistic … 2 right much more realistic); with the key, ``rating`` is on the paper's scale."""
    from .scales import toward_real

    sql = ("SELECT r.name, a.public_id, a.position, i.task, ans.choice, ans.comment, ans.seconds, ans.revisions, "
           "ans.first_answered_at, ans.answered_at, a.swap, a.item_id FROM answers ans "
           "JOIN assignments a ON a.id = ans.assignment_id JOIN readers r ON r.id = a.reader_id "
           "JOIN items i ON i.id = a.item_id ORDER BY r.id, a.position")
    keys = {}
    if with_key:
        keys = {row[0]: row[1:] for row in conn.execute(
            "SELECT item_id, unit, prompt_id, generator, finding, real_image, source_a, source_b FROM answer_key")}
    rows = []
    for (name, public_id, position, task, choice, comment, seconds, revisions, first, last, swap,
         item_id) in conn.execute(sql):
        row = dict(zip(EXPORT_COLUMNS, (name, public_id, position, task, choice, comment, round(seconds, 3),
                                        revisions, first, last)))
        if with_key:
            unit, prompt_id, generator, finding, real_image, source_a, source_b = keys[item_id]
            real_on_right = None if real_image is None else (real_image == "b") != bool(swap)
            rating = choice if task == "alignment" else toward_real(choice, real_on_right)
            row.update(item=item_id, unit=unit, prompt_id=prompt_id, generator=generator, finding=finding,
                       real_on_right=real_on_right, rating=rating, source_a=source_a, source_b=source_b)
        rows.append(row)
    return rows


@contextmanager
def owner_connection(folder: Path) -> Iterator[sqlite3.Connection]:
    """An owner connection for analysis, status and export (the key included)."""
    conn = connect(Path(folder) / DB_NAME)
    try:
        yield conn
    finally:
        conn.close()
