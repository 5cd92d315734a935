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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.subgroups import UNKNOWN, groups_of, members, settings
from ..errors import CxrgenError, InputError
from ..functional.bootstrap import percentile_ci
from ..functional.subgroups import gap_of, gap_replicates
from ..results.entry import Entry, Gap, GroupValue, SubgroupView
from .floors import apply_floors, floors_for

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


def attach(metric: "Metric", entries: list[Entry], ctx: "EvaluationContext", by: tuple[str, ...]) -> None:
    """Add a `SubgroupView` per attribute to each of the metric's ``entries`` (see the module docstring)."""
    subject = ctx.image_subject
    if subject.prompts is None:
        raise InputError("--by reads each prompt's group from the prompts CSV: give --prompts with the attribute "
                         "columns (sex, age, race, view, CheXpert labels)")
    config = settings(ctx.profile.subgroups)
    for attribute in by:
        split = Split.of(subject, attribute, config, is_set_level(metric))
        per_group = _per_group(metric, entries, ctx, split)
        for entry in entries:
            if entry.value is None and entry.error:
                continue  # the metric failed as a whole: its error says why, no group view
            view = _view(entry, per_group, split, metric.card.direction == "higher")
            if split.set_level:
                apply_floors(view, *floors_for(metric, entry, view, ctx, split, config))
                if not view.floor_n:
                    entry.warn(f"--by {attribute}: floors {view.floors}; the gap is between raw values, which "
                               "mix each group's own spread and size with the generator's failure")
            entry.add_subgroups(attribute, view)
            if view.gap.value is None:
                sizes = ", ".join(f"{g} {r.n}" for g, r in view.groups.items())
                entry.warn(f"--by {attribute}: fewer than two groups of at least {split.min_size} prompts with a "
                           f"value: no gap ({sizes})")


@dataclass
class Split:
    """One attribute's groups of prompts: generated and reference members, which are ranked, and the
    matched size of set-level metrics."""

    attribute: str
    generated: dict[str, list[str]]
    reference: dict[str, list[str]] | None  # None: the subject has no reference set
    ranked: list[str]
    min_size: int
    matched: int | None
    set_level: bool

    @classmethod
    def of(cls, subject: "ImageSetSubject", attribute: str, config: dict[str, Any], set_level: bool) -> "Split":
        groups = groups_of(subject.prompts, attribute, config)
        generated_ids = set(subject.images.prompt_ids)
        reference_ids = set(subject.reference.prompt_ids) if subject.reference is not None else None
        gen = members({p: g for p, g in groups.items() if p in generated_ids})
        ref = members({p: g for p, g in groups.items() if p in reference_ids}) if reference_ids else None
        min_size = int(config["min_size"])
        ranked = [g for g, ids in gen.items() if g != UNKNOWN and len(ids) >= min_size]
        matched = None
        if set_level and config.get("matched_sizes", True) and ranked:
            sizes = [min(len(gen[g]), len((ref or {}).get(g, []))) for g in ranked]
            matched = min(sizes) if min(sizes) > 0 else None
        return cls(attribute, gen, ref, ranked, min_size, matched, set_level)

    def sides(self, group: str, seed: int) -> tuple[list[str], list[str] | None]:
        """The generated and reference prompt ids a group is scored on (cut to the matched size)."""
        gen_ids = self.generated[group]
        ref_ids = self.reference.get(group, []) if self.reference is not None else None
        if self.matched:
            return seeded_sample(gen_ids, self.matched, seed), seeded_sample(ref_ids or [], self.matched, seed)
        return gen_ids, ref_ids


def _per_group(metric: "Metric", entries: list[Entry], ctx: "EvaluationContext",
               split: Split) -> dict[str, dict[str, tuple[GroupValue, list[float | None] | None]]]:
    """key → group → (the group's value, its bootstrap replicates) for every group of the split."""
    keys = [e.key for e in entries]
    out: dict[str, dict[str, tuple[GroupValue, list[float | None] | None]]] = {key: {} for key in keys}
    for group, ids in split.generated.items():
        if group == UNKNOWN or len(ids) < split.min_size:
            for key in keys:
                out[key][group] = (GroupValue(value=None, n=len(ids), ci=None, too_small=group != UNKNOWN,
                                              unknown=group == UNKNOWN), None)
            continue
        gen_ids, ref_ids = split.sides(group, ctx.bootstrap_seed)
        if split.set_level and split.reference is not None and not ref_ids:
            for key in keys:
                out[key][group] = (GroupValue(value=None, n=len(ids), ci=None,
                                              error=f"no reference image of group {group!r}"), None)
            continue
        ctx.log(f"{metric.name}: group {split.attribute}={group} ({len(gen_ids)} prompts)")
        computed = _group_entries(metric, ctx, gen_ids, ref_ids, keys)
        for key in keys:
            e = computed[key]
            value = GroupValue(value=e.value, n=len(gen_ids), ci=e.ci95)
            if e.error:
                value.error = e.error
            out[key][group] = (value, e.replicates() or None)
    return out


def _group_entries(metric: "Metric", ctx: "EvaluationContext", gen_ids: list[str], ref_ids: list[str] | None,
                   keys: list[str]) -> dict[str, Entry]:
    """The metric on one group's images, an entry per key (failed ones with their reason)."""
    try:
        found = {e.key: e for e in metric.compute(ctx.for_subject(restricted(ctx.image_subject, gen_ids, ref_ids)))}
    except CxrgenError as exc:
        found = {key: Entry(key, metric.name, metric.card.version, None, error=str(exc).splitlines()[0]) for key in keys}
    return {key: found.get(key) or Entry(key, metric.name, metric.card.version, None,
                                         error="not computed for this group") for key in keys}


def _view(entry: Entry, per_group: dict[str, dict[str, tuple[GroupValue, Any]]], split: Split,
          higher: bool) -> SubgroupView:
    """One entry's groups, the gap between the best and the worst ranked group, and the gap's CI from the
    groups' replicates (a stratified bootstrap: replicate r of the gap is max − min of the groups' r)."""
    rows = per_group[entry.key]
    values = {g: v.value for g, (v, _) in rows.items() if g in split.ranked}
    gap, worst = gap_of(values, higher)
    reps = {g: np.array([np.nan if x is None else x for x in r], dtype=np.float64)
            for g, (v, r) in rows.items() if g in split.ranked and r and v.value is not None}
    ci, gap_reps = None, None
    if gap is not None and len(reps) >= 2 and len({len(r) for r in reps.values()}) == 1:
        gap_reps = gap_replicates(reps)
        ci = percentile_ci(gap_reps, estimate=gap)
        ci = (max(0.0, ci[0]), ci[1]) if ci else None  # a gap is never negative; re-centring can say so
    view = SubgroupView(groups={g: v for g, (v, _) in rows.items()}, gap=Gap(value=gap, ci=ci), worst=worst,
                        min_size=split.min_size, unknown=len(split.generated.get(UNKNOWN, [])))
    if gap_reps is not None:
        view.gap.replicates = [None if not np.isfinite(v) else float(v) for v in gap_reps]
    if split.matched:
        view.matched_n = split.matched
    if len(split.ranked) != len(rows):
        view.ranked = split.ranked
    return view
