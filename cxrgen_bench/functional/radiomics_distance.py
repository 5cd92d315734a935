"""Fréchet Radiomics Distance (Konz, Osuala et al., "FRD v1"; the definition CheXGenBench's
`metrics/frd.py` computes): radiomic feature vectors of two image sets, z-scored with the reference
set's mean and (population) std, features that are then non-finite in either set dropped, the
Fréchet distance of Gaussians fitted to what is left, and its natural logarithm.

CheXGenBench's steps besides, each a switch here: images whose vector has a missing value are dropped
(pandas `dropna`), and the larger set is cut to the smaller one's size by a random draw without
replacement (`match_sizes`, numpy's legacy generator seeded as theirs: the same draw for the same
row order). The distance itself is the suite's (`functional.frechet`, float64 statistics).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import MetricError
from .frechet import FeatureStats, frechet_distance_from_stats


def frechet_radiomics_distance(reference: Any, generated: Any, match_sizes: bool = True, seed: int = 42,
                               log: bool = True) -> dict[str, Any]:
    """FRD between a reference (real) and a generated feature set, both (n, d); returns the value and
    what was dropped or drawn on the way (``kept``: the rows of each set used, in their order)."""
    ref, gen = np.asarray(reference, np.float64), np.asarray(generated, np.float64)
    if ref.ndim != 2 or gen.ndim != 2 or ref.shape[1] != gen.shape[1]:
        raise MetricError(f"FRD needs two (n, d) feature arrays of one d, got {ref.shape} and {gen.shape}")
    ref_rows = np.flatnonzero(~np.isnan(ref).any(axis=1))
    gen_rows = np.flatnonzero(~np.isnan(gen).any(axis=1))
    if match_sizes and len(ref_rows) != len(gen_rows):
        # their order of draws: only the larger set is drawn from, with the global generator seeded once
        rng = np.random.RandomState(seed)
        if len(ref_rows) > len(gen_rows):
            ref_rows = ref_rows[rng.choice(len(ref_rows), len(gen_rows), replace=False)]
        else:
            gen_rows = gen_rows[rng.choice(len(gen_rows), len(ref_rows), replace=False)]
    r, g = ref[ref_rows], gen[gen_rows]
    if len(r) < 2 or len(g) < 2:
        raise MetricError(f"FRD needs at least 2 images per set with every feature defined; got {len(r)} real and "
                          f"{len(g)} generated")
    mean, std = r.mean(axis=0), r.std(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rz, gz = (r - mean) / std, (g - mean) / std
    finite = np.isfinite(rz).all(axis=0) & np.isfinite(gz).all(axis=0)
    if not finite.any():
        raise MetricError("FRD: no radiomic feature varies over the reference images (every one was dropped)")
    result = frechet_distance_from_stats(FeatureStats.from_features(gz[:, finite]),
                                         FeatureStats.from_features(rz[:, finite]))
    fd = result.value
    if log and fd <= 0:
        raise MetricError(f"FRD: the Fréchet distance is {fd:.3g}, whose logarithm is undefined (identical sets?)")
    return {"value": math.log(fd) if log else fd, "frechet": fd, "log": log,
            "features_used": int(finite.sum()), "features_dropped": int((~finite).sum()),
            "rows_dropped_nan": {"reference": int(np.isnan(ref).any(axis=1).sum()),
                                 "generated": int(np.isnan(gen).any(axis=1).sum())},
            "n": {"reference": len(r), "generated": len(g)}, "matched_sizes": bool(match_sizes),
            "kept": {"reference": ref_rows.tolist(), "generated": gen_rows.tolist()},
            "frechet_details": {k: v for k, v in result.as_dict().items() if k != "value"}}
