"""A scoring run: image sets + profile + metrics → one validated results object.

`score()` is the Python surface; `cxrgen-bench score` parses flags into exactly these arguments and
prints exactly what this returns.
"""
from __future__ import annotations

import platform
import re
import subprocess
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from . import __version__
from .cache import Cache
from .data.manifest import ImageSet, PromptSet
from .errors import CxrgenError, InputError
from .metrics.base import ScoringContext
from .profiles import Profile, get_profile
from .registry import METRICS
from .results.store import SCHEMA_VERSION, to_json_safe, validate, write_result

DEFAULT_METRICS = ("fid", "ms_ssim", "classifier_auroc")
_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(\[(?P<opts>[^\]]*)\])?$")
RECORDED_PACKAGES = ("torch", "torchvision", "numpy", "scipy", "pillow", "torchxrayvision", "open_clip_torch",
                     "scikit-image", "safetensors")


def parse_metric_specs(metrics: str | Sequence[str]) -> list[tuple[str, list[str]]]:
    """"fid[inception-v3-fid+clip-vit-b-32],ms_ssim" → [("fid", [...]), ("ms_ssim", [])]."""
    items = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    specs = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        m = _SPEC.match(item)
        if not m:
            raise InputError(f"metric {item!r} is not of the form NAME or NAME[OPTION+OPTION]")
        if m["name"] not in METRICS:
            raise InputError(f"unknown metric {m['name']!r}; registered: {', '.join(METRICS.names())}")
        specs.append((m["name"], [o for o in (m["opts"] or "").split("+") if o]))
    if not specs:
        raise InputError("no metrics requested")
    return specs


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


def score(images: str | Path | ImageSet, reference: str | Path | ImageSet | None = None,
          prompts: str | Path | PromptSet | None = None, metrics: str | Sequence[str] = DEFAULT_METRICS,
          profile: str | Profile = "roentgen2022", weights: Mapping[str, str] | None = None,
          out: str | Path | None = None, model_name: str | None = None, cache_dir: str | Path | None = None,
          use_cache: bool = True, device: str = "cpu", batch_size: int = 32, workers: int | None = None,
          allow_pickle: bool = False, strict: bool = False, bootstrap: int = 0, bootstrap_seed: int = 0,
          log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score an image set; returns the results object (and writes it to ``out`` when given).

    A metric that cannot be computed (missing weights, too few samples, ...) is recorded with its
    error and the result is marked ``status: partial``; with ``strict=True`` the first such error is
    raised instead and nothing is written.
    """
    started = time.monotonic()
    log = log or (lambda msg: None)
    prof = get_profile(profile)
    specs = parse_metric_specs(metrics)
    image_set = images if isinstance(images, ImageSet) else ImageSet.from_folder(images)
    ref_set = reference if isinstance(reference, ImageSet) or reference is None else ImageSet.from_folder(reference)
    prompt_set = prompts if isinstance(prompts, PromptSet) or prompts is None else PromptSet.from_csv(prompts)
    ctx = ScoringContext(images=image_set, reference=ref_set, prompts=prompt_set, profile=prof,
                         cache=Cache(cache_dir, enabled=use_cache), weights=dict(weights or {}),
                         allow_pickle=allow_pickle, device=device, batch_size=batch_size, workers=workers, strict=strict,
                         bootstrap=bootstrap, bootstrap_seed=bootstrap_seed, log=log)
    values: dict[str, Any] = {}
    for name, options in specs:
        metric = METRICS.get(name)(prof.metric(name), options)
        log(f"metric {name}{options or ''}")
        try:
            entries = metric.compute(ctx)
        except CxrgenError as exc:
            if strict:
                raise
            log(f"metric {name} failed: {exc}")
            entries = [metric.value(name, None, len(image_set.prompt_ids), 0, error=str(exc))]
        for entry in entries:
            values[entry["key"]] = entry
    status = "partial" if any("error" in v for v in values.values()) else "complete"
    result = {
        "schema_version": SCHEMA_VERSION,
        "kind": "measured",
        "status": status,
        "profile": prof.describe(),
        "model": {"name": model_name or image_set.root.name,
                  "generator": {"name": "folder", "path": str(image_set.root), "layout": image_set.layout}},
        "image_set": image_set.describe(),
        "reference_set": ref_set.describe() if ref_set else None,
        "prompt_set": prompt_set.describe() if prompt_set else None,
        "metrics": values,
        "weights": ctx.weights_used(),
        "environment": environment(),
        "run": {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "duration_s": round(time.monotonic() - started, 3), "device": device,
                "settings": {"metrics": [f"{n}[{'+'.join(o)}]" if o else n for n, o in specs],
                             "batch_size": batch_size, "use_cache": use_cache, "allow_pickle": allow_pickle,
                             "bootstrap": bootstrap, "bootstrap_seed": bootstrap_seed}},
    }
    if out is not None:
        write_result(result, out)  # validates, then writes atomically: no half-written file
    return validate(to_json_safe(result))
