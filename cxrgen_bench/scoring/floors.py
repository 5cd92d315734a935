"""Each group's floor for a set-level metric under `--by`: what the metric reads between two sets of that
group's real images at the same n (`functional/floors.py` has the estimate and why), so the gap, the worst
group and the gate read the generator's excess over real rather than the groups' own spread.

Floors need a metric with a feature-level form (`value_of_features`: FD, KID, CMMD, PRDC) and sets of at least
``MIN_HALF`` images in every ranked group. One design serves all groups (unpaired where the reference holds
real images of other prompts, paired where it holds only the prompts' own: `functional.floors.designs`), each
group at the largest n it allows. Where floors cannot be computed the view says why, and the gap stays on the
raw values with a warning that it mixes the groups' own spread with the generator's failure."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CxrgenError
from ..functional.floors import MIN_HALF, Floor, designs, excess_gap, excess_over_floor
from ..results.entry import Entry, SubgroupView

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext
    from ..metrics.base import Metric
    from .subgroups import Split


@dataclass(frozen=True)
class GroupSets:
    """A group's generated and real features on one backbone, and each row's prompt id."""

    gen: np.ndarray
    ref: np.ndarray
    gen_ids: list[str]
    ref_ids: list[str]


def group_features(metric: "Metric", entry: Entry, ctx: "EvaluationContext", split: "Split",
                   groups: list[str]) -> dict[str, GroupSets]:
    """Every image of each group on the entry's backbone (the features are in the cache: the group's value
    was computed from them)."""
    from .subgroups import restricted

    out = {}
    for group in groups:
        sub = ctx.for_subject(restricted(ctx.image_subject, split.generated[group], split.reference.get(group, [])))
        generated = metric.generated_records(sub)
        gen, ref, _ = metric.features(sub, entry.backbone, generated)
        out[group] = GroupSets(np.asarray(gen, np.float64), np.asarray(ref, np.float64),
                               [r.prompt_id for r in generated], [r.prompt_id for r in metric.reference_records(sub)])
    return out


def floors_for(metric: "Metric", entry: Entry, view: SubgroupView, ctx: "EvaluationContext", split: "Split",
               config: dict[str, Any]) -> tuple[dict[str, Floor], str]:
    """Each ranked group's floor (the groups with a value), and how they were estimated (or why there are
    none)."""
    value_of = getattr(metric, "value_of_features", None)
    if not config.get("floors", True):
        return {}, "not computed (subgroups.floors: false)"
    if value_of is None or not entry.backbone:
        return {}, f"not computed: {metric.name} has no feature-level form"
    if split.reference is None:
        return {}, "not computed: no reference images"
    groups = [g for g in split.ranked if view.groups[g].value is not None]
    if len(groups) < 2:
        return {}, "not computed: fewer than two ranked groups with a value"
    try:
        feats = group_features(metric, entry, ctx, split, groups)
    except CxrgenError as exc:
        return {}, f"not computed: {str(exc).splitlines()[0]}"
    allowed = {g: designs(np.asarray(s.gen_ids), np.asarray(s.ref_ids)) for g, s in feats.items()}
    design = max(("unpaired", "paired"), key=lambda d: min(a.get(d, 0) for a in allowed.values()))  # unpaired on a tie
    h = min(a.get(design, 0) for a in allowed.values())
    if h < MIN_HALF:
        sizes = ", ".join(f"{g} {len(set(s.gen_ids))} generated / {len(set(s.ref_ids))} real prompts"
                          for g, s in feats.items())
        return {}, (f"not computed: a floor needs sets of at least {MIN_HALF} images in every ranked group — "
                    f"{2 * MIN_HALF} real images of other prompts, or {2 * MIN_HALF} prompts with their own "
                    f"real image ({sizes})")
    splits, rounds = int(config["floor_splits"]), int(config["floor_rounds"])
    ctx.log(f"{entry.key}: floors of {len(feats)} {split.attribute} groups at n = {h} "
            f"({splits} splits, {rounds} permutation rounds)")
    higher = metric.card.direction == "higher"
    try:
        floors = {g: excess_over_floor(value_of, s.gen, s.ref, s.gen_ids, s.ref_ids, allowed[g][design], design,
                                       splits, rounds, _seed(ctx.bootstrap_seed, g), higher) for g, s in feats.items()}
    except CxrgenError as exc:  # a metric's own size rule at n = h (PRDC needs more than k)
        return {}, f"not computed at n = {h}: {str(exc).splitlines()[0]}"
    return floors, (f"excess over two disjoint real sets of each group at its own n (≥ {h}; {design}; mean of "
                    f"{splits} splits); its spread from {rounds} relabellings of generated and real; the gap's "
                    "interval simultaneous over the groups")


def _seed(seed: int, group: str) -> int:
    return int(hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()[:8], 16)


def apply_floors(view: SubgroupView, floors: dict[str, Floor], said: str) -> None:
    """Put the floors in the view; with floors the gap, its interval and the worst group are the excess's."""
    view.floors = said
    if not floors:
        return
    view.floor_n = min(f.n for f in floors.values())
    for group, f in floors.items():
        row = view.groups[group]
        row.floor_n, row.at_floor_n, row.floor, row.excess, row.excess_ci = f.n, f.value, f.floor, f.excess, f.ci()
    gap, worst, ci = excess_gap(floors)
    view.gap.value, view.gap.ci, view.gap.basis = gap, ci, "excess over floor"
    view.gap.replicates = None  # the raw values' replicates describe another quantity
    view.worst = worst
