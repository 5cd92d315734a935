"""Approximate randomization (Noreen 1989), the paired significance test RadEval's `compare_systems` offers
beside the bootstrap: under the null hypothesis that two systems are exchangeable, each item's pair of scores
may be swapped; the p-value is the share of random swaps whose difference of means is at least as large as
the observed one, counted with the observed arrangement, (r + 1) / (R + 1), so it is never 0."""
from __future__ import annotations

import math

import numpy as np

from ..errors import MetricError

CHUNK = 1000  # shuffles drawn at a time: memory bounded by CHUNK × n


def approximate_randomization(a, b, n_shuffles: int = 10000, seed: int = 0) -> float:
    """Two-sided p-value of the difference of the means of paired per-item values ``a`` and ``b``."""
    return approximate_randomization_test(a, b, n_shuffles, seed)["p_value"]


def approximate_randomization_test(a, b, n_shuffles: int = 10000, seed: int = 0) -> dict[str, float]:
    """The test with its Monte Carlo error: ``{"p_value", "mc_error", "difference", "shuffles"}``; the
    difference is mean(b) − mean(a); mc_error is the binomial standard error of the estimated p-value."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.size != y.size:
        raise MetricError(f"approximate randomization pairs items: {x.size} values against {y.size}")
    if x.size == 0:
        raise MetricError("approximate randomization needs at least one pair of values")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise MetricError("approximate randomization: the per-item values must be finite numbers")
    if n_shuffles < 1:
        raise MetricError(f"approximate randomization needs at least one shuffle, not {n_shuffles}")
    d = y - x
    observed = abs(d.mean())
    # swapping a pair flips the sign of its difference; a tolerance keeps exact ties (swaps that change
    # nothing) counted as "at least as large" despite rounding
    tolerance = 1e-12 * max(1.0, float(np.abs(d).max()))
    rng = np.random.default_rng(seed)
    at_least = 0
    for start in range(0, n_shuffles, CHUNK):
        size = min(CHUNK, n_shuffles - start)
        signs = rng.integers(0, 2, size=(size, d.size), dtype=np.int8) * 2 - 1
        shuffled = np.abs(signs @ d) / d.size
        at_least += int((shuffled >= observed - tolerance).sum())
    p = (at_least + 1) / (n_shuffles + 1)
    return {"p_value": p, "mc_error": math.sqrt(p * (1 - p) / n_shuffles), "difference": float(d.mean()),
            "shuffles": n_shuffles}
