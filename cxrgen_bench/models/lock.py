"""`weights.lock`: what a weights folder holds, file by file (size, sha256), where each model came from
(address, Hub commit) and why its hash is trusted (stated by the publisher, or recorded at the first fetch).

The lock sits beside the weights ($CXRGEN_WEIGHTS/weights.lock). Every later fetch compares what it gets
with it, and every load of a file or folder inside the weights folder re-hashes it against it: a file
changed upstream, or on disk, is refused by name instead of silently giving other numbers.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from ..data.images import sha256_file
from ..errors import WeightsError
from ..files import atomic_write_text

LOCK_NAME = "weights.lock"
FORMAT = "cxrgen-bench weights.lock 1"


@dataclass
class LockedFile:
    size: int
    sha256: str
    converted_from: str | None = None  # the file (relative path) this safetensors file was written from
    trusted_by: str | None = None  # why a pickle/TorchScript source was read to convert it


@dataclass
class LockedModel:
    source: str  # the address: a URL, hf://REPO, a package, a page
    kind: str
    pinned_by: str  # "publisher" (a stated hash or tag) or "first fetch"
    fetched_at: str
    revision: str | None = None  # the Hub commit the files come from
    files: dict[str, LockedFile] = field(default_factory=dict)  # path relative to the weights folder → file


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def describe_file(path: Path, root: Path) -> tuple[str, LockedFile]:
    return path.relative_to(root).as_posix(), LockedFile(path.stat().st_size, sha256_file(path))


class WeightsLock:
    """The lock of the weights folder ``root`` (empty when it has none yet)."""

    def __init__(self, root: Path, models: dict[str, LockedModel] | None = None):
        self.root = Path(root)
        self.models = models or {}

    @property
    def path(self) -> Path:
        return self.root / LOCK_NAME

    @classmethod
    def load(cls, root: str | Path) -> "WeightsLock":
        root = Path(root)
        path = root / LOCK_NAME
        if not path.is_file():
            return cls(root)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT!r}")
            models = {name: LockedModel(**{**m, "files": {p: LockedFile(**f) for p, f in m["files"].items()}})
                      for name, m in data["models"].items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WeightsError(f"{path}: not a readable weights lock ({exc}); move it aside and fetch again, or "
                               "restore it from the bundle it came with") from None
        return cls(root, models)

    def save(self) -> Path:
        data = {"format": FORMAT, "models": {name: asdict(m) for name, m in sorted(self.models.items())}}
        atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")
        return self.path

    def files(self) -> Iterator[tuple[str, str, LockedFile]]:
        """(model, relative path, file) of every locked file."""
        for name, model in self.models.items():
            for rel, locked in model.files.items():
                yield name, rel, locked

    def entry(self, rel: str) -> tuple[str, LockedFile] | None:
        return next(((name, f) for name, path, f in self.files() if path == rel), None)

    def problems(self, models: list[str] | None = None) -> list[str]:
        """Every locked file (of ``models``) that is missing, or whose size or sha256 differs."""
        out = []
        for name, rel, locked in self.files():
            if models is not None and name not in models:
                continue
            path = self.root / rel
            if not path.is_file():
                out.append(f"{path}: missing (model {name})")
            elif path.stat().st_size != locked.size:
                out.append(f"{path}: {path.stat().st_size} bytes, the lock says {locked.size} (model {name})")
            elif sha256_file(path) != locked.sha256:
                out.append(f"{path}: sha256 {sha256_file(path)} is not the locked {locked.sha256} (model {name})")
        return out


def lock_covering(path: Path) -> tuple[WeightsLock, str] | None:
    """The lock of the weights folder ``path`` lies in (it, or a parent up to two levels up), and ``path``
    relative to it; None when no lock lists it."""
    path = Path(path).resolve()
    for root in (path.parent, path.parent.parent, path.parent.parent.parent):
        if (root / LOCK_NAME).is_file():
            lock = WeightsLock.load(root)
            rel = path.relative_to(root).as_posix()
            return (lock, rel) if lock.entry(rel) or _folder_files(lock, rel) else None
    return None


def _folder_files(lock: WeightsLock, rel: str) -> list[tuple[str, LockedFile]]:
    prefix = rel.rstrip("/") + "/"
    return [(p, f) for _, p, f in lock.files() if p.startswith(prefix)]


def check_file(path: Path, sha256: str) -> dict[str, Any]:
    """Refuse a file inside a locked weights folder whose sha256 is not the locked one; the lock's record of it
    (for the results' provenance) otherwise, {} when no lock covers it."""
    covered = lock_covering(path)
    if covered is None:
        return {}
    lock, rel = covered
    model, locked = lock.entry(rel)  # type: ignore[misc]
    if sha256 != locked.sha256:
        raise WeightsError(f"{path}: sha256 {sha256} is not the {locked.sha256} that {lock.path} records for "
                           f"model {model}; the file changed after it was fetched. Fetch it again "
                           f"(`cxrgen-bench weights fetch --only {model}`) or restore it from its bundle")
    return {"lock": str(lock.path), "locked_model": model, "source": lock.models[model].source}


def check_folder(folder: Path) -> dict[str, Any]:
    """`check_file` for every locked file of a model folder (a Hub snapshot)."""
    covered = lock_covering(folder)
    if covered is None:
        return {}
    lock, rel = covered
    prefix = rel.rstrip("/") + "/"
    models = sorted({name for name, p, _ in lock.files() if p.startswith(prefix)})
    problems = lock.problems(models)
    if problems:
        raise WeightsError(f"{folder}: does not match {lock.path}: " + "; ".join(problems[:3])
                           + ". Fetch it again (`cxrgen-bench weights fetch`) or restore it from its bundle")
    return {"lock": str(lock.path), "locked_model": ", ".join(models)}
