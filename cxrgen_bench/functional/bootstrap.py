"""Prompt-level (clustered) bootstrap and paired comparisons.

The unit of resampling is the prompt: all samples of a prompt (and, for paired designs, its
reference image) stay together. Replicate r uses the multiplicities `weights[r]` (counts summing to
the number of prompts) drawn from a seeded generator over the sorted prompt ids, so two runs on
the same prompt set with the same seed see the same resampled prompt sets, and the difference of
their replicates is a paired bootstrap of the difference.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


def resample_weights(n_prompts: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n_prompts) multiplicities of a with-replacement resample of the prompts."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_prompts, size=(resamples, n_prompts))
    weights = np.zeros((resamples, n_prompts), dtype=np.int64)
    np.add.at(weights, (np.arange(resamples)[:, None], idx), 1)
    return weights


@dataclass
class BootstrapResult:
    estimate: float | None
    ci95: tuple[float, float] | None
    replicates: np.ndarray  # NaN where a replicate is undefined (e.g. AUROC with one class)
    resamples: int
    seed: int

    def as_dict(self) -> dict:
        finite = self.replicates[np.isfinite(self.replicates)]
        bias = float(finite.mean() - self.estimate) if finite.size and self.estimate is not None else None
        return {"resamples": self.resamples, "seed": self.seed,
                "method": "percentile of replicates re-centred on the estimate, prompt-level clustered",
                "bias": bias, "defined": int(finite.size),
                "replicates": [None if not np.isfinite(v) else float(v) for v in self.replicates]}


def percentile_ci(replicates: np.ndarray, level: float = 0.95,
                  estimate: float | None = None) -> tuple[float, float] | None:
    """Percentile interval of the replicates; with `estimate`, of the replicates re-centred on it.

    Re-centring removes the bootstrap's own bias, which matters for Fréchet distances: FID is biased
    upwards by about d/n, and a resample (≈63% distinct prompts) has a smaller effective n, so raw
    replicates sit above the estimate (at n = 5,000, d = 2,048 the raw 95% interval missed the
    estimate entirely). For means and AUROC the shift is negligible."""
    finite = replicates[np.isfinite(replicates)]
    if finite.size < 2:
        return None
    if estimate is not None:
        finite = finite - finite.mean() + estimate
    lo, hi = np.quantile(finite, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def bootstrap(statistic: Callable[[np.ndarray], float | None], n_prompts: int, resamples: int, seed: int,
              estimate: float | None) -> BootstrapResult:
    """Run ``statistic(weights)`` on each resample's prompt multiplicities."""
    weights = resample_weights(n_prompts, resamples, seed)
    values = np.array([np.nan if (v := statistic(w)) is None else v for w in weights], dtype=np.float64)
    return BootstrapResult(estimate, percentile_ci(values, estimate=estimate), values, resamples, seed)


def weighted_mean(values: np.ndarray) -> Callable[[np.ndarray], float]:
    values = np.asarray(values, np.float64)
    return lambda w: float(w @ values / w.sum())


@dataclass
class PairedComparison:
    difference: float  # b − a, point estimate
    ci95: tuple[float, float] | None
    p_value: float | None  # two-sided: is the difference zero?
    replicates: int


def paired_difference(estimate_a: float, estimate_b: float, replicates_a: np.ndarray,
                      replicates_b: np.ndarray) -> PairedComparison:
    """Paired bootstrap of b − a from replicates computed on the same resampled prompt sets."""
    a = np.asarray(replicates_a, np.float64)
    b = np.asarray(replicates_b, np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    point = estimate_b - estimate_a
    diff = b[keep] - a[keep]
    # Fewer than two distinct differences: the bootstrap collapsed (a metric constant over resamples), so it
    # says nothing of the uncertainty; a zero-width interval would make any change look significant.
    if diff.size < 2 or np.ptp(diff) == 0:
        identical = diff.size >= 2 and point == 0 and not diff.any()  # the same numbers on every resample
        return PairedComparison(point, None, 1.0 if identical else None, int(diff.size))
    diff = diff - diff.mean() + point  # re-centred, as in percentile_ci
    # Two-sided p-value by inverting the percentile interval: the share of replicates on the far side of 0.
    below, above = (diff <= 0).mean(), (diff >= 0).mean()
    p = min(1.0, 2 * min(below, above))
    return PairedComparison(point, percentile_ci(diff), float(max(p, 1 / diff.size)), int(diff.size))
