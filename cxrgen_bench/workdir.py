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


def check_identity(path: Path, identity: dict[str, Any], what: str, write: bool = True) -> None:
    """Refuse a folder whose recorded settings differ from ``identity``; record them on first use."""
    if path.is_file():
        previous = json.loads(path.read_text(encoding="utf-8"))
        if previous != identity:
            changed = sorted(k for k in set(previous) | set(identity) if previous.get(k) != identity.get(k))
            raise InputError(f"{path.parent} holds {what} made with other settings (differences in: "
                             f"{', '.join(changed)}); use another --out, or delete the folder to start over")
    elif write:
        atomic_write_text(path, json.dumps(identity, indent=2, sort_keys=True) + "\n")
