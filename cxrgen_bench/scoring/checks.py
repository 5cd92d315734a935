"""Checks that refuse unusable run arguments before any work: a typo must not cost an hour of
computing first, nor surface as a traceback from the first model. `check_run_arguments` is the one
entry point; `score`, `score_reports`, `score_checkpoints` and `generate_then_score` call it, and the
command line reaches it through them, so the CLI and the Python API refuse the same things with the
same messages (flags are named as on the command line, with the Python argument beside them).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from ..registry import METRICS

_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.@-]+)(\[(?P<opts>[^\]]*)\])?$")


def check_run_arguments(out: str | Path | None = None, device: str | None = "cpu",
                        metrics: str | Sequence[str] | None = None, profile: object = "roentgen2022",
                        batch_size: int | None = 32, workers: int | None = None, bootstrap: int | None = 0,
                        out_is_folder: bool = False) -> None:
    """Every check below, in the order a user would fix them."""
    for flag, name, value, low in (("--batch-size", "batch_size", batch_size, 1), ("--workers", "workers", workers, 1),
                                   ("--bootstrap", "bootstrap", bootstrap, 0)):
        check_count(flag, name, value, low)
    check_out(out, folder=out_is_folder)
    check_device(device)
    check_metric_options(metrics, profile)


def check_count(flag: str, name: str, value: object, low: int) -> None:
    """A size or count of work: an integer ≥ ``low`` (0 images per batch never finishes); None is unset."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{flag} ({name}=) {value!r}: expected an integer")
    if value < low:
        raise InputError(f"{flag} ({name}=) must be {low} or more, not {value}")


def check_out(path: str | Path | None, folder: bool = False) -> None:
    """Refuse an --out that cannot be written now, not after the metrics were computed."""
    if not path:
        return
    out = Path(path)
    if out.exists() and out.is_dir() != folder:
        raise InputError(f"--out {out} is a folder; name the results file, e.g. --out {out / 'results.json'}"
                         if not folder else f"--out {out} is a file; name a folder")
    existing = out if out.is_dir() else out.parent
    while not existing.exists():  # missing folders are created when writing
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"--out {out}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: cannot write in {existing} (read-only or no permission); choose another place")


def check_device(device: str | None) -> None:
    """A device torch cannot use is named now, not as a traceback from the first model."""
    if device in (None, "cpu", "auto"):
        return
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(f"--device {device!r} is not a torch device; use cpu, cuda, cuda:1, mps, ...") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (dev.index or 0) >= count:
            raise InputError(f"--device {device}: " + ("no CUDA GPU is visible to torch" if count == 0 else
                                                      f"torch sees {count} CUDA device(s) (cuda:0..{count - 1})")
                             + "; use --device cpu, or check CUDA_VISIBLE_DEVICES and the torch build")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"--device {device}: Apple's MPS is not available here; use --device cpu")


def check_metric_options(metrics: str | Sequence[str] | None, profile: object) -> None:
    """Refuse options a metric does not take (fid[typo], ms_ssim[foo]) before any work: the metric would
    fail on them only when its turn came, or ignore them. Image-feature metrics take backbones; others
    the options their card lists (a plug-in that takes options lists them there)."""
    if not metrics:
        return
    from ..metrics.per_backbone import PerBackbone
    from ..profiles import get_profile
    from ..registry import BACKBONES

    for name, options in parse_metric_specs(metrics):
        metric = METRICS.get(name)
        if issubclass(metric, PerBackbone):  # a registered backbone, or one the profile configures by name
            known = sorted({*BACKBONES.names(), *get_profile(profile).backbones})
        else:
            known = [option for option, _ in metric.card.options]
        unknown = [o for o in options if o not in known]
        if unknown:
            raise InputError(f"--metrics {name}[{'+'.join(options)}]: unknown option(s) {', '.join(unknown)}; "
                             + (f"{name} takes: {', '.join(known)}" if known else f"{name} takes no options"))


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
