"""Whom a generator serves worse: a metric's value per group of patients, the gap between the best and
the worst group, and the worst group itself. Pure numerics: groups are labels, values numbers.

`group_gap` takes per-item values (one per image or prompt: a prompt's MS-SSIM, an image's adherence)
and their groups. `gap_of` takes values already computed per group (a Fréchet distance of each group's
images against that group's real images) — the same rule for both: the gap is max − min over the groups
with at least `min_size` items, the worst group is the one with the worst value in the metric's direction
(ties: the first in sorted order), and groups below the size are left out of both, never ranked.
"""
from __future__ import annotations

import math
from typing import Any, Hashable, Iterable, Mapping, Sequence

import numpy as np

from ..errors import MetricError


def gap_of(per_group: Mapping[Hashable, float | None], higher_is_better: bool = True) -> tuple[float | None, Any]:
    """(max − min, worst group) over the groups whose value is defined; (None, None) with fewer than two."""
    defined = {g: float(v) for g, v in per_group.items() if v is not None and math.isfinite(float(v))}
    if len(defined) < 2:
        return None, None
    order = sorted(defined, key=str)
    worst = (min if higher_is_better else max)(order, key=lambda g: defined[g])
    return max(defined.values()) - min(defined.values()), worst


def group_gap(values: Sequence[float] | np.ndarray, groups: Sequence[Hashable], higher_is_better: bool = True,
              min_size: int = 1) -> dict[str, Any]:
    """Per-group means of per-item ``values``, the gap between the best and the worst group (max − min over
    the groups with at least ``min_size`` items) and the worst group (lowest mean when higher is better,
    highest otherwise). ``{"per_group": {group: mean}, "gap": float | None, "worst": group | None}``;
    per_group holds every group, the gap and the worst only those large enough."""
    v = np.asarray(values, dtype=np.float64).ravel()
    labels = list(groups)
    if len(labels) != v.size:
        raise MetricError(f"group_gap: {v.size} values for {len(labels)} group labels")
    if min_size < 1:
        raise MetricError(f"group_gap: min_size must be at least 1, not {min_size}")
    members: dict[Hashable, list[int]] = {}
    for i, g in enumerate(labels):
        members.setdefault(g, []).append(i)
    per_group = {g: float(np.mean(v[idx])) for g, idx in sorted(members.items(), key=lambda kv: str(kv[0]))}
    sized = {g: m for g, m in per_group.items() if len(members[g]) >= min_size}
    gap, worst = gap_of(sized, higher_is_better)
    return {"per_group": per_group, "gap": gap, "worst": worst}


def gap_replicates(replicates: Mapping[Hashable, np.ndarray]) -> np.ndarray:
    """The gap of each bootstrap replicate, from each group's replicates (index r of every group is one
    resample): NaN where fewer than two groups are defined."""
    stacked = np.stack([np.asarray(r, dtype=np.float64) for r in replicates.values()])
    finite = np.isfinite(stacked)
    hi = np.where(finite, stacked, -np.inf).max(axis=0)
    lo = np.where(finite, stacked, np.inf).min(axis=0)
    return np.where(finite.sum(axis=0) >= 2, hi - lo, np.nan)


def age_band(age: float | None, edges: Iterable[float]) -> str:
    """"60–79" for 64 with edges (40, 60, 80); "<40" and "80+" at the ends; "unknown" for no age."""
    if age is None or not math.isfinite(age):
        return "unknown"
    cuts = sorted(float(e) for e in edges)
    if not cuts or age < cuts[0]:
        return f"<{cuts[0]:g}" if cuts else "all"
    for lo, hi in zip(cuts, cuts[1:]):
        if lo <= age < hi:
            return f"{lo:g}–{hi - 1:g}"
    return f"{cuts[-1]:g}+"


def underdiagnosis(no_finding: np.ndarray, truth: np.ndarray, groups: Sequence[Hashable],
                   threshold: float = 0.5) -> dict[Hashable, dict[str, Any]]:
    """Underdiagnosis per group (Seyyed-Kalantari et al. 2021): the false-positive rate of "No Finding", the
    share of patients who have a finding (truth 0 for No Finding) whom the classifier calls healthy (score
    at or above ``threshold``). ``{group: {"rate": float | None, "n": patients with a finding}}``; NaN truths
    (unlabelled) are left out."""
    scores = np.asarray(no_finding, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    labels = np.asarray(list(groups), dtype=object)
    out: dict[Hashable, dict[str, Any]] = {}
    for g in sorted(set(labels.tolist()), key=str):
        ill = (labels == g) & (y == 0)
        n = int(ill.sum())
        out[g] = {"rate": float((scores[ill] >= threshold).mean()) if n else None, "n": n}
    return out
