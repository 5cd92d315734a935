"""What a set-level metric reads between two sets of real images of one group: its floor, and a generator's
excess over it. Pure numerics on feature matrices.

Why: a Fréchet distance between a group's generated and real images mixes the generator's failure with the
group's own spread and its size. Groups of 9 prompts differ in both, so a perfect generator still shows a
"gap" between groups (7.0 for the faithful phantom stand-in, against 10.5 for one built to fail a finding).
Subtracting, group by group, what the same metric reads between two disjoint sets of that group's *real*
images at the same size leaves what the generator adds.

The estimate (`excess_over_floor`): ``splits`` times, draw G (generated) and two disjoint sets A, B of real
images, ``h`` each, without replacement (a duplicated image shrinks a covariance); the excess is the mean over
the splits of  M(G, B) − M(A, B)  (B the common real side; for a metric where higher is better the sign turns,
so a positive excess is always "worse than real"). `designs` says how G, A and B are drawn: "unpaired", A and
B from real images of prompts other than G's (a real image of G's own prompt sits closer to G than any other);
"paired", for a reference holding only the prompts' own images, h prompts give G and A and h others B.

Its uncertainty (`Floor.se`): the whole procedure recomputed, with the same split positions, on the data dealt
out again as if generated and real were alike (unpaired: pooled and re-split at the same sizes; paired: each
prompt's two images swapped with probability ½); the spread over ``rounds`` such deals. Relabelling only G ∪ A
inside each split is too narrow: the same G enters every split, so its own draw is never averaged away
(tests/test_subgroup_floors.py checks the coverage on Gaussian stand-ins; benchmarks/subgroup_floors.py on
the phantom stand-ins).

The gap over groups (`excess_gap`): max − min of the groups' excesses, the worst group the one with the largest
excess, and a simultaneous interval: every group's excess ± z·se with z the Šidák quantile for the number of
groups; the gap's interval runs from max(lower ends) − min(upper ends) (0 when they overlap) to max(upper) −
min(lower). When every group's interval holds its true excess — 95 % of the time — the gap's interval holds the
true gap, so a generator that serves every group alike has 0 inside it at least 95 % of the time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Mapping

import numpy as np

from ..errors import MetricError

MIN_HALF = 4  # images in each of G, A and B: fewer, and a covariance of 3 points says nothing
# the profile's `subgroups` settings of the floors (defaults): on, splits averaged, permutation rounds for the
# spread. Cost: 2 × splits × (rounds + 1) metric values per group, on features already computed.
FLOOR_SETTINGS = {"floors": True, "floor_splits": 8, "floor_rounds": 40}


def frechet_of_features(x: Any, y: Any) -> float:
    """The Fréchet distance between two feature sets (n, d), exact. With fewer images than dimensions the
    trace of √(Σx Σy) is the nuclear norm of Xc Ycᵀ / √((nx−1)(ny−1)) (an nx × ny matrix, not d × d):
    the nonzero eigenvalues of Σx Σy are those of (Xc Ycᵀ)(Yc Xcᵀ) up to that scale."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 2 or len(y) < 2:
        raise MetricError(f"a Fréchet distance needs at least 2 images per set, got {len(x)} and {len(y)}")
    xc, yc = x - x.mean(0), y - y.mean(0)
    scale = math.sqrt((len(x) - 1) * (len(y) - 1))
    if min(len(x), len(y)) < x.shape[1]:
        trace_sqrt = float(np.linalg.svd(xc @ yc.T / scale, compute_uv=False).sum())
    else:
        from .frechet import FeatureStats, ReferenceRoot, frechet_to_root

        sx, root = FeatureStats.from_features(x), ReferenceRoot.of(FeatureStats.from_features(y))
        return frechet_to_root(sx.mean(), sx.covariance(), root, sx.n).value
    diff = x.mean(0) - y.mean(0)
    value = float(diff @ diff) + float((xc * xc).sum()) / (len(x) - 1) + float((yc * yc).sum()) / (len(y) - 1) \
        - 2 * trace_sqrt
    return max(value, 0.0)


@dataclass(frozen=True)
class Floor:
    value: float  # mean of M(G, B) over the splits: the group's value at n = h
    floor: float  # mean of M(A, B): two real sets of the group at n = h
    excess: float  # value − floor (floor − value where higher is better): positive = worse than real
    se: float  # its spread when the generator is as good as real (see the module docstring)
    n: int  # h, images in each set
    splits: int
    rounds: int

    def ci(self, z: float = 1.959964) -> tuple[float, float]:
        return self.excess - z * self.se, self.excess + z * self.se


ValueOf = Callable[[np.ndarray, np.ndarray], float]
Positions = list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # per split: rows of G (generated), A and B (real)


def _first_rows(ids: np.ndarray) -> dict[str, int]:
    """The first row of each prompt id (one image per prompt: samples of one prompt are not independent)."""
    out: dict[str, int] = {}
    for row, pid in enumerate(ids):
        out.setdefault(str(pid), row)
    return out


def designs(gen_ids: np.ndarray, ref_ids: np.ndarray) -> dict[str, int]:
    """The largest h each design allows a group. "unpaired": h generated images G, and A, B from the real
    images of *other* prompts (a real image of G's own prompt sits closer to G than any other would); "paired"
    (every generated prompt has its own real image): h prompts give G and A, h others B — half the data, for
    a reference that holds nothing but the prompts' own images."""
    gen_p, ref_rows = set(_first_rows(gen_ids)), _first_rows(ref_ids)
    out = {"unpaired": min(len(gen_p), len(set(ref_rows) - gen_p) // 2)}
    if gen_p <= set(ref_rows):
        out["paired"] = min(len(gen_p), len(ref_rows) // 2)  # h of the prompts for G and A, h others for B
    return out


def _splits(gen_ids: np.ndarray, ref_ids: np.ndarray, h: int, design: str, splits: int,
            rng: np.random.Generator) -> Positions:
    """Rows of G, A and B for each split (`designs`): no image in two sets, no prompt in both G and B."""
    gen_rows, ref_rows = _first_rows(gen_ids), _first_rows(ref_ids)
    out = []
    for _ in range(splits):
        chosen = [str(p) for p in rng.permutation(sorted(gen_rows))[:h]]
        g = np.array([gen_rows[p] for p in chosen])
        left = [p for p in (str(q) for q in rng.permutation(sorted(ref_rows))) if p not in set(chosen)]
        if design == "paired":
            a, b = np.array([ref_rows[p] for p in chosen]), np.array([ref_rows[p] for p in left[:h]])
        else:
            left = [p for p in left if p not in gen_rows]
            a, b = np.array([ref_rows[p] for p in left[:h]]), np.array([ref_rows[p] for p in left[h:2 * h]])
        out.append((g, a, b))
    return out


def _value_and_floor(value_of: ValueOf, gen: np.ndarray, ref: np.ndarray, positions: Positions) -> tuple[float, float]:
    values = [value_of(gen[g], ref[b]) for g, _, b in positions]
    floors = [value_of(ref[a], ref[b]) for _, a, b in positions]
    return float(np.mean(values)), float(np.mean(floors))


def _relabelled(gen: np.ndarray, ref: np.ndarray, gen_ids: np.ndarray, ref_ids: np.ndarray, design: str,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The data as they could have been if generated and real were alike: paired, each prompt's generated and
    real image swapped with probability ½; unpaired, all images dealt out again into sets of the same sizes."""
    if design == "paired":
        gen, ref = gen.copy(), ref.copy()
        ref_rows = _first_rows(ref_ids)
        for pid, row in _first_rows(gen_ids).items():
            if rng.random() < 0.5:
                gen[row], ref[ref_rows[pid]] = ref[ref_rows[pid]].copy(), gen[row].copy()
        return gen, ref
    pooled = np.concatenate([gen, ref])
    order = rng.permutation(len(pooled))
    return pooled[order[:len(gen)]], pooled[order[len(gen):]]


def excess_over_floor(value_of: ValueOf, gen: np.ndarray, ref: np.ndarray, gen_ids: Any, ref_ids: Any, h: int,
                      design: str, splits: int, rounds: int, seed: int, higher_is_better: bool = False) -> Floor:
    """A group's value, floor and excess at ``h`` images a set (``gen_ids``, ``ref_ids``: each row's prompt
    id; ``design``: see `designs`), with the excess's spread from ``rounds`` relabellings (module docstring)."""
    gen_ids, ref_ids = np.asarray(gen_ids).astype(str), np.asarray(ref_ids).astype(str)
    allowed = designs(gen_ids, ref_ids).get(design, 0)
    if h < MIN_HALF or h > allowed:
        raise MetricError(f"a {design} floor at n = {h} needs sets of at least {MIN_HALF} images; the group's "
                          f"{len(set(gen_ids))} generated and {len(set(ref_ids))} real prompts allow n = {allowed}")
    rng = np.random.default_rng(seed)
    sign = -1.0 if higher_is_better else 1.0
    positions = _splits(gen_ids, ref_ids, h, design, splits, rng)
    value, floor = _value_and_floor(value_of, gen, ref, positions)
    null = []
    for _ in range(rounds):
        v, f = _value_and_floor(value_of, *_relabelled(gen, ref, gen_ids, ref_ids, design, rng), positions)
        null.append(sign * (v - f))
    se = float(np.std(null, ddof=1)) if rounds >= 2 else float("nan")
    return Floor(value, floor, sign * (value - floor), se, h, splits, rounds)


def sidak_z(groups: int, level: float = 0.95) -> float:
    """The normal quantile making ``groups`` two-sided intervals hold together with probability ``level``."""
    from scipy.stats import norm

    each = 1 - level ** (1 / max(groups, 1))
    return float(norm.ppf(1 - each / 2))


def excess_gap(floors: Mapping[Hashable, Floor], level: float = 0.95) -> tuple[float | None, Any, tuple[float, float] | None]:
    """(gap, worst group, simultaneous interval) over the groups' excesses; (None, None, None) with fewer
    than two."""
    if len(floors) < 2:
        return None, None, None
    order = sorted(floors, key=str)
    excess = {g: floors[g].excess for g in order}
    worst = max(order, key=lambda g: excess[g])
    gap = max(excess.values()) - min(excess.values())
    if any(not math.isfinite(f.se) for f in floors.values()):
        return gap, worst, None
    z = sidak_z(len(floors), level)
    lo = {g: excess[g] - z * floors[g].se for g in order}
    hi = {g: excess[g] + z * floors[g].se for g in order}
    return gap, worst, (max(0.0, max(lo.values()) - min(hi.values())), max(hi.values()) - min(lo.values()))
