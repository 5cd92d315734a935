"""The results object every evaluation writes (schema `results/schema-v2.json`): what was scored, under
which profile, by which models and code, and each metric's entry. `evaluate` writes it for a subject;
studies and the reader study write theirs through `new_result` too."""
from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Mapping

from ..evaluation.subjects import Subject
from ..profiles import Profile
from ..results.entry import Entry
from ..results.store import SCHEMA_VERSION
from ..version import __version__

RECORDED_PACKAGES = ("torch", "torchvision", "numpy", "scipy", "pillow", "torchxrayvision", "open_clip_torch",
                     "scikit-image", "safetensors", "transformers")


def environment() -> dict[str, Any]:
    packages = {}
    for name in RECORDED_PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {"cxrgen_bench": __version__, "git_hash": _git_hash(), "python": platform.python_version(),
            "packages": packages}


def _git_hash() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def new_result(subject: Subject, profile: Profile, metrics: Mapping[str, Entry | Mapping[str, Any]],
               weights: dict[str, Any], run: dict[str, Any], model_name: str | None = None,
               model: dict[str, Any] | None = None) -> dict[str, Any]:
    """The results object of ``subject``'s ``metrics`` (typed entries, or their JSON)."""
    entries = {key: e.to_json() if isinstance(e, Entry) else dict(e) for key, e in metrics.items()}
    # a failed metric, or one whose value is undefined on these data, is not a complete result
    status = "partial" if any("error" in v or "undefined" in v for v in entries.values()) else "complete"
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "measured",
        "status": status,
        "profile": profile.describe(),
        "model": {"name": model_name or subject.default_name(), **(subject.model() if model is None else model)},
        "subject": subject.describe(),
        **subject.inputs(),
        "metrics": entries,
        "weights": weights,
        "environment": environment(),
        "run": run,
    }
