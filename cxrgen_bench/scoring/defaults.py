"""`score` without `--metrics`: run every default metric the inputs and the models on this machine allow, and
say why each other one was skipped — as a user of clean-fid expects from two folders of images.

A metric asked for by name is never skipped: it runs, or fails with its reason in a `partial` result. A
default one whose inputs are missing (MS-SSIM on one image per prompt; classifier AUROC without labelled
prompts) is skipped before any work; one whose weights are missing is skipped when the run is offline (online,
a published file is fetched on first use, so it runs). A per-backbone metric keeps the backbones whose
weights are here. The skipped metrics and their reasons are recorded in the results' `run.settings.skipped`
and printed under the summary."""
from __future__ import annotations

from typing import Mapping, Sequence

from ..errors import InputError
from ..evaluation.subjects import Subject
from ..models.weights import is_offline
from ..profiles import Profile
from ..registry import METRICS
from .weights_status import plan


def runnable_defaults(subject: Subject, profile: Profile, names: Sequence[str],
                      weights: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """(the metric specs to run, {skipped metric or key: why}) of the default ``names`` on ``subject``."""
    specs: list[str] = []
    skipped: dict[str, str] = {}
    for name in names:
        lacking = subject.missing_for(name, METRICS.get(name).card.requires, checked_here=True)
        if lacking:
            skipped[name] = lacking
            continue
        spec, blocked = _with_weights_here(name, profile, weights) if is_offline() else (name, {})
        skipped.update(blocked)
        if spec:
            specs.append(spec)
    if not specs:
        raise InputError("none of the default metrics can run on these inputs: "
                         + "; ".join(f"{k}: {why}" for k, why in skipped.items())
                         + ". Name the metrics to compute with --metrics (`cxrgen-bench weights status` lists them)")
    return specs, skipped


def _with_weights_here(name: str, profile: Profile, weights: Mapping[str, str]) -> tuple[str | None, dict[str, str]]:
    """The metric restricted to the keys whose models are here (None: none is), and the keys left out."""
    status = plan(profile, [name], weights)
    gets = {m["name"]: m["get"] for m in status["models"] if not m["found"]}
    keys = status["metrics"]
    blocked = {k["key"]: f"offline, and its weights are not here ({', '.join(k['blocked_by'])}): "
               + (gets.get(k["blocked_by"][0]) or "cxrgen-bench weights status") for k in keys if k["blocked_by"]}
    if not blocked:
        return name, {}
    left = [k["key"] for k in keys if not k["blocked_by"]]
    if not left:
        return None, blocked
    options = [key.split("[", 1)[1].rstrip("]") for key in left if "[" in key]
    if len(options) != len(left):  # keys that are not one per option: run it whole, its failures recorded
        return name, {}
    return f"{name}[{'+'.join(options)}]", blocked
