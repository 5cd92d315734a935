"""Every metric per group of patients (`score --by sex,age_band,race,view,finding`), with the gap between the
best and the worst group.

A metric is computed again on each group's own images: the generated images of the group's prompts and,
for metrics that compare with real images, the real images of the same group (like with like: a group's
Fréchet distance is against that group's reference). Set-level metrics (FD, FD∞, KID, CMMD, PRDC) are
biased by the sample size, which differs between groups: with `subgroups.matched_sizes` every group is
first cut to the same seeded sample, the smallest group's size on both sides, and the size is recorded
(FD∞, `fd_infinity --by ...`, removes most of that bias instead; say which you show). Groups under
`subgroups.min_size` prompts, and the "unknown" group, are reported but not ranked.

Each group's value carries its bootstrap CI (the metric's own, over the group's prompts, same seed); the
gap's CI comes from the same resamples: replicate r of the gap is max − min of the groups' replicates r
(a stratified bootstrap, each group resampled within itself).
"""
from __future__ import annotations

import copy
import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.subgroups import UNKNOWN, groups_of, members, settings
from ..errors import CxrgenError, InputError
from ..functional.bootstrap import percentile_ci
from ..functional.subgroups import gap_of, gap_replicates

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext
    from ..evaluation.subjects import ImageSetSubject
    from ..metrics.base import Metric


def seeded_sample(ids: list[str], n: int, seed: int) -> list[str]:
    """n of ``ids`` chosen by hash: the same ids whatever the order they come in."""
    return sorted(sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())[:n])


def restricted(subject: "ImageSetSubject", prompt_ids: list[str], reference_ids: list[str] | None) -> "ImageSetSubject":
    """The subject's images of ``prompt_ids`` and reference images of ``reference_ids``, its prompts kept whole
    (they are looked up by id), without re-checking what the whole subject passed."""
    sub = copy.copy(subject)
    sub.images = subject.images.restrict(prompt_ids)
    if subject.reference is not None and reference_ids is not None:
        sub.reference = subject.reference.restrict(reference_ids)
    return sub


def is_set_level(metric: "Metric") -> bool:
    from ..metrics.per_backbone import PerBackbone

    return isinstance(metric, PerBackbone)


def attach(metric: "Metric", entries: list[dict[str, Any]], ctx: "EvaluationContext", by: tuple[str, ...]) -> None:
    """Add ``entry["subgroups"][attribute]`` to each of the metric's ``entries`` (see the module docstring)."""
    subject = ctx.image_subject
    if subject.prompts is None:
        raise InputError("--by reads each prompt's group from the prompts CSV: give --prompts with the attribute "
                         "columns (sex, age, race, view, CheXpert labels)")
    config = settings(ctx.profile.subgroups)
    min_size = int(config["min_size"])
    seed = ctx.bootstrap_seed
    set_level = is_set_level(metric)
    generated = set(subject.images.prompt_ids)
    reference = set(subject.reference.prompt_ids) if subject.reference is not None else set()
    keyed = {e["key"]: e for e in entries}
    for attribute in by:
        groups = groups_of(subject.prompts, attribute, config)
        gen_members = members({p: g for p, g in groups.items() if p in generated})
        ref_members = members({p: g for p, g in groups.items() if p in reference})
        unknown = len(gen_members.get(UNKNOWN, []))
        ranked = [g for g, ids in gen_members.items() if g != UNKNOWN and len(ids) >= min_size]
        matched = None
        if set_level and config.get("matched_sizes", True) and ranked:
            sizes = [min(len(gen_members[g]), len(ref_members.get(g, []))) for g in ranked]
            matched = min(sizes) if min(sizes) > 0 else None
        per_group: dict[str, dict[str, dict[str, Any]]] = {key: {} for key in keyed}
        for group, ids in gen_members.items():
            if group != UNKNOWN and len(ids) >= min_size:
                gen_ids, ref_ids = ids, ref_members.get(group, []) if reference else None
                if matched:
                    gen_ids, ref_ids = seeded_sample(ids, matched, seed), seeded_sample(ref_ids or [], matched, seed)
                if set_level and reference and not ref_ids:
                    for key in keyed:
                        per_group[key][group] = {"value": None, "n": len(ids), "ci": None,
                                                 "error": f"no reference image of group {group!r}"}
                    continue
                ctx.log(f"{metric.name}: group {attribute}={group} ({len(gen_ids)} prompts)")
                try:
                    group_entries = {e["key"]: e for e in metric.compute(ctx.for_subject(
                        restricted(subject, gen_ids, ref_ids)))}
                except CxrgenError as exc:
                    group_entries = {key: {"value": None, "error": str(exc).splitlines()[0]} for key in keyed}
                for key in keyed:
                    e = group_entries.get(key) or {"value": None, "error": "not computed for this group"}
                    per_group[key][group] = {"value": e.get("value"), "n": len(gen_ids), "ci": e.get("ci95"),
                                             **({"error": e["error"]} if e.get("error") else {}),
                                             "_replicates": (e.get("bootstrap") or {}).get("replicates")}
            else:
                for key in keyed:
                    per_group[key][group] = {"value": None, "n": len(ids), "ci": None,
                                             "too_small": group != UNKNOWN, "unknown": group == UNKNOWN}
        for key, entry in keyed.items():
            if entry.get("value") is None and entry.get("error"):
                continue  # the metric failed as a whole: its error says why, no group view
            higher = metric.card.direction == "higher"
            rows = per_group[key]
            values = {g: r["value"] for g, r in rows.items() if g in ranked}
            gap, worst = gap_of(values, higher)
            reps = {g: np.array([np.nan if v is None else v for v in rows[g]["_replicates"]], dtype=np.float64)
                    for g in ranked if rows[g].get("_replicates") and rows[g]["value"] is not None}
            ci, gap_reps = None, None
            if gap is not None and len(reps) >= 2 and len({len(r) for r in reps.values()}) == 1:
                gap_reps = gap_replicates(reps)
                ci = percentile_ci(gap_reps, estimate=gap)
                ci = (max(0.0, ci[0]), ci[1]) if ci else None  # a gap is never negative; re-centring can say so
            for r in rows.values():
                r.pop("_replicates", None)
            entry.setdefault("subgroups", {})[attribute] = {
                "groups": rows, "gap": {"value": gap, "ci": list(ci) if ci else None, **({"replicates": [
                    None if not np.isfinite(v) else float(v) for v in gap_reps]} if gap_reps is not None else {})},
                "worst": worst,
                "min_size": min_size, "unknown": unknown,
                **({"matched_n": matched} if matched else {}),
                **({"ranked": ranked} if len(ranked) != len(rows) else {})}
            if gap is None:
                sizes = ", ".join(f"{g} {r['n']}" for g, r in rows.items())
                entry.setdefault("warnings", []).append(
                    f"--by {attribute}: fewer than two groups of at least {min_size} prompts with a value: no gap "
                    f"({sizes})")
