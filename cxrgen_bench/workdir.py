"""A folder a resumable run owns (a generation run, a study): one writer at a time, and one set of
settings for its whole life, so a re-run resumes only work that is really its own."""
from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import IO, Any

from .errors import InputError
from .files import atomic_write_text


def lock(path: Path, folder: Path, what: str) -> IO[str]:
    """An exclusive, non-blocking lock on ``folder`` (file ``path``), held while the returned handle
    stays open (see `unlock`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise InputError(f"{folder}: another {what} is writing to this folder (lock {path}); wait for it or "
                         "choose another --out") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def unlock(handle: IO[str] | None) -> None:
    if handle:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def read_identity(path: Path, what: str) -> dict[str, Any] | None:
    """The settings recorded in ``path`` (None when there is none yet); a damaged record is named."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DamagedRecord(path, f"not readable as JSON ({exc})", what) from None
    if not isinstance(data, dict):
        raise DamagedRecord(path, f"holds {type(data).__name__}, not the settings of {what}", what)
    return data


class DamagedRecord(InputError):
    """A folder's record of its settings is cut short or garbled (a disk that filled, an editor)."""

    def __init__(self, path: Path, problem: str, what: str):
        self.path = path
        super().__init__(f"{path} is damaged: {problem}. It records the settings of {what} in {path.parent}; if this "
                         f"command's settings are the ones that folder was made with, delete {path.name} and run "
                         "the command again (finished work in the folder is kept and reused); otherwise choose "
                         "another --out")


def describe_identity(identity: dict[str, Any], fallback: str) -> str:
    """"a run of study memorisation" from a record's own fields, not the command that found it."""
    if identity.get("kind") == "study" and identity.get("study"):
        return f"a run of study {identity['study']}"
    return fallback


def _differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """The settings that differ, one level into nested blocks ("settings.epochs"), hashes left out when a
    named setting explains them."""
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if x == y:
            continue
        if isinstance(x, dict) and isinstance(y, dict) and not prefix:
            out += _differences(x, y, f"{key}.") or [key]
        else:
            out.append(f"{prefix}{key}")
    named = [d for d in out if not d.endswith("sha256")]
    return named or out


def check_identity(path: Path, identity: dict[str, Any], what: str, write: bool = True,
                   started: bool = True) -> None:
    """Refuse a folder whose recorded settings differ from ``identity``; record them on first use.

    ``started=False`` says nothing was finished under the recorded settings (a run refused up front, or
    stopped before its first unit): then the new settings replace them instead of blocking the corrected
    command. A damaged record with nothing started is replaced too; with finished work it is named."""
    try:
        previous = read_identity(path, what)
    except DamagedRecord:
        if started:
            raise
        previous = None
    if previous is not None and previous != identity and started:
        changed = _differences(previous, identity)
        raise InputError(f"{path.parent} holds {describe_identity(previous, what)} made with other settings "
                         f"(differences in: {', '.join(changed)}); use another --out, or delete the folder to start "
                         "over")
    if write and previous != identity:
        atomic_write_text(path, json.dumps(identity, indent=2, sort_keys=True) + "\n")
