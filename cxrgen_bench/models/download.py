"""Downloads, through huggingface_hub: release files with `http_get` (a progress bar, retries, and resume of a
partial download with a Range request) and Hub repositories with `snapshot_download` (a pinned commit, only
the files needed, several at once, HF_ENDPOINT / HF_HUB_OFFLINE / the Hub cache honoured). Nothing here
decides what to fetch or trusts what arrives: callers check hashes against the lock and the publishers' pins.

`CXRGEN_MIRROR=https://artifacts.example.org/cxr` sends every release-file request to an organisation's
mirror instead (https://HOST/PATH → MIRROR/HOST/PATH); Hub requests follow HF_ENDPOINT.
"""
from __future__ import annotations

import fnmatch
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from ..data.images import sha256_file
from ..errors import WeightsError

if TYPE_CHECKING:
    from .lock import WeightsLock

MIRROR_ENV = "CXRGEN_MIRROR"
PART = ".part"


def mirrored(url: str) -> str:
    """The address a request for ``url`` goes to ($CXRGEN_MIRROR, when set, in front of host and path)."""
    mirror = os.environ.get(MIRROR_ENV, "").rstrip("/")
    if not mirror or "://" not in url:
        return url
    return f"{mirror}/{url.split('://', 1)[1]}"


class Unreachable(WeightsError):
    """The host did not answer at all (no route, no name, refused): no other file of it is tried this run."""


def fetch_file(url: str, dest: Path, sha256: str | None = None, progress: bool = True,
               pinned_by: str = "its publisher states") -> Path:
    """``url`` saved as ``dest``: a `dest.part` left by an interrupted download is continued from its end.
    With ``sha256`` (a publisher's statement, or the lock's record), any other content is refused and removed."""
    from huggingface_hub.file_download import http_get

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + PART)
    resume = part.stat().st_size if part.is_file() else 0
    try:
        with open(part, "ab") as out, progress_bars(progress):
            http_get(mirrored(url), out, resume_size=resume, displayed_filename=dest.name)
    except Exception as exc:  # httpx2/HfHubHTTPError/OSError: the partial file stays for the next try
        said = str(exc).splitlines()[0] if str(exc) else ""
        kept = part.stat().st_size if part.is_file() else 0
        error = WeightsError if getattr(exc, "response", None) is not None else Unreachable
        raise error(f"{url}: download stopped ({type(exc).__name__}: {said}); {kept} bytes kept in {part}: "
                    "fetching again continues from there") from None
    got = sha256_file(part)
    if sha256 and got != sha256:
        part.unlink()
        raise WeightsError(f"{url}: sha256 {got} is not the {sha256} {pinned_by}; not used (the download was "
                           "removed). The file changed upstream, or a mirror or proxy served another file")
    os.replace(part, dest)
    return dest


def fetch_locked(root: Path, model: str, url: str, filename: str, stated: str | None = None,
                 progress: bool = True) -> Path:
    """A release file of ``model`` in the weights folder ``root`` (ROOT/MODEL/FILENAME), recorded in its lock:
    kept when it is there and matches the lock, else fetched (resumed) and checked against the publisher's
    ``stated`` sha256 or, for a file fetched before, the lock's; the first fetch of an unpinned file records it."""
    from .lock import WeightsLock

    dest = Path(root) / model / filename
    lock = WeightsLock.load(root)
    rel = dest.relative_to(root).as_posix()
    locked = lock.entry(rel)
    pin = stated or (locked[1].sha256 if locked else None)
    if verified(dest, pin) and (locked or stated or dest.is_file()):
        if not locked:  # put there by hand or by an older version: this is its first record
            _record(lock, model, url, stated, dest, Path(root))
        return dest
    pinned_by = "its publisher states" if stated else \
        f"{lock.path} records (first fetched {lock.models[model].fetched_at})" if locked else ""
    fetch_file(url, dest, pin, progress, pinned_by)
    _record(lock, model, url, stated, dest, Path(root))
    return dest


def _record(lock: "WeightsLock", model: str, url: str, stated: str | None, dest: Path, root: Path) -> None:
    from .lock import LockedModel, describe_file, now

    entry = lock.models.get(model) or LockedModel(url, "file", "publisher" if stated else "first fetch", now())
    rel, described = describe_file(dest, root)
    entry.files[rel] = described
    lock.models[model] = entry
    lock.save()


def hub_commit(repo: str, revision: str | None) -> str:
    """The commit a branch or tag of a Hub repository points at (a commit stays itself)."""
    from huggingface_hub import HfApi

    try:
        return HfApi().model_info(repo, revision=revision or "main").sha
    except Exception as exc:  # noqa: BLE001 — the Hub client's error types vary by version; the message says it
        raise WeightsError(f"hf://{repo}@{revision or 'main'}: cannot be reached or read ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def hub_files(repo: str, commit: str, patterns: tuple[str, ...], dest: Path, progress: bool = True) -> list[Path]:
    """The files of ``repo`` at ``commit`` matching ``patterns``, downloaded into the Hub cache (or found there)
    and placed in ``dest`` (hard links where the file system allows, else copies)."""
    from huggingface_hub import snapshot_download

    try:
        with progress_bars(progress):
            snapshot = Path(snapshot_download(repo, revision=commit, allow_patterns=list(patterns)))
    except Exception as exc:  # noqa: BLE001
        raise WeightsError(f"hf://{repo}@{commit[:12]}: download stopped ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}); fetching again continues") from None
    placed = []
    for source in sorted(p for p in snapshot.rglob("*") if p.is_file()):
        rel = source.relative_to(snapshot)
        if not any(fnmatch.fnmatch(rel.as_posix(), pattern) for pattern in patterns):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.unlink()
        try:
            os.link(source.resolve(), target)
        except OSError:
            shutil.copyfile(source, target)
        placed.append(target)
    if not placed:
        raise WeightsError(f"hf://{repo}@{commit[:12]}: none of {list(patterns)} is in the repository")
    return placed


def verified(path: Path, sha256: str | None) -> bool:
    return path.is_file() and (sha256 is None or sha256_file(path) == sha256)


@contextmanager
def progress_bars(shown: bool) -> Iterator[None]:
    """huggingface_hub's progress bars off for a block (--quiet, tests); shown, they follow the user's
    HF_HUB_DISABLE_PROGRESS_BARS."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    before = are_progress_bars_disabled()
    if not shown:
        disable_progress_bars()
    try:
        yield
    finally:
        if not before:
            enable_progress_bars()
