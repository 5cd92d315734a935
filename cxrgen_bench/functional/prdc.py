"""Precision, recall, density and coverage of generated features against real ones (Naeem et al.
2020), the definitions of the `prdc` package: each sample's k-NN ball is the ball around it whose
radius is the distance to its k-th nearest neighbour in its own set (itself excluded); a generated
sample is "precise" when it lies strictly inside some real ball, density counts the real balls it
lies in (divided by k), a real sample is "covered" when its nearest generated sample lies inside its
ball, and recall swaps the roles of the sets in precision. Distances are Euclidean; the pairwise
distances are computed in blocks, so 5,000 × 5,000 at d = 2,048 stays within a few hundred MB, and the sets
are read in float64 tiles (a float32 memory map is never copied whole).

``precision="float32"`` computes what the `prdc` package computes when handed float32 features (as
CheXGenBench hands it): scikit-learn squares the distances in float64, rounds them to float32, takes the
square root in float32 and sets each point's distance to itself to 0; every comparison with a radius is
then made between float32 numbers, so a distance that rounds to its radius is no longer inside the ball.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

from ..errors import InputError

Precision = Literal["float64", "float32"]

BLOCK = 1024  # rows of one set against the other at a time
TILE = 2048  # rows of the other set converted to float64 at a time (sets may be float32 memory maps)


def _f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _sq(a: np.ndarray) -> np.ndarray:
    return (a * a).sum(1)


def _distances(a: np.ndarray, b: np.ndarray, precision: Precision = "float64") -> np.ndarray:
    """Euclidean distances of the rows of ``a`` (float64) to every row of ``b``, which is read TILE rows at a
    time: neither set is ever copied whole. float32: rounded as scikit-learn rounds them for float32 input
    (its operation order, so that the rounding lands on the same float32 number)."""
    if precision == "float32":
        out = np.empty((len(a), len(b)), dtype=np.float32)
        sq_a = np.einsum("ij,ij->i", a, a)[:, None]
        for t in range(0, len(b), TILE):
            tile = _f64(b[t:t + TILE])
            d2 = -2 * (a @ tile.T)
            d2 += sq_a
            d2 += np.einsum("ij,ij->i", tile, tile)[None, :]
            out[:, t:t + TILE] = np.sqrt(np.maximum(d2.astype(np.float32), np.float32(0)))
        return out
    out = np.empty((len(a), len(b)))
    sq_a = _sq(a)
    for t in range(0, len(b), TILE):
        tile = _f64(b[t:t + TILE])
        d2 = sq_a[:, None] + _sq(tile)[None, :] - 2 * a @ tile.T
        out[:, t:t + TILE] = np.sqrt(np.maximum(d2, 0.0))
    return out


def kth_neighbour_radii(x: np.ndarray, k: int, precision: Precision = "float64") -> np.ndarray:
    """Distance of each row to its k-th nearest other row."""
    out = np.empty(len(x), dtype=np.float32 if precision == "float32" else np.float64)
    for s in range(0, len(x), BLOCK):
        d = _distances(_f64(x[s:s + BLOCK]), x, precision)
        rows = np.arange(len(d))
        d[rows, s + rows] = 0.0  # a row's distance to itself, exactly (rounding leaves ~1e-8 otherwise)
        out[s:s + BLOCK] = np.partition(d, k, axis=1)[:, k]  # column 0 of the sorted row is the row itself
    return out


def prdc(real_feats: np.ndarray, fake_feats: np.ndarray, k: int = 5,
         fake_weights: np.ndarray | None = None, precision: Precision = "float64") -> dict[str, float]:
    """{"precision", "recall", "density", "coverage"} of `fake_feats` against `real_feats`.

    `fake_weights` (bootstrap multiplicities): a resampled generated set without copying rows; the
    generated k-NN balls are those of its distinct samples (a duplicate at distance 0 would shrink
    them), precision and density are weighted means over the generated samples. ``precision``: of the
    distances and the comparisons (see the module docstring)."""
    if precision not in ("float64", "float32"):
        raise InputError(f"PRDC: precision must be float64 or float32, not {precision!r}")
    real, fake = (a if isinstance(a, np.ndarray) and a.dtype.kind == "f" else _f64(a) for a in (real_feats, fake_feats))
    if fake_weights is not None:
        w = np.asarray(fake_weights, dtype=np.float64)
        present = w > 0
        fake, w = fake[present], w[present]
    else:
        w = np.ones(len(fake))
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise InputError(f"PRDC: two (n, d) feature arrays of the same d are needed, got {real.shape} and {fake.shape}")
    if not all(np.isfinite(a[s:s + TILE]).all() for a in (real, fake) for s in range(0, len(a), TILE)):
        raise InputError("PRDC: features contain NaN or infinity")
    if k < 1 or len(real) <= k or len(fake) <= k:
        raise InputError(f"PRDC with k = {k} needs more than k samples per set; got {len(real)} real and "
                         f"{len(fake)} generated")
    real_r, fake_r = kth_neighbour_radii(real, k, precision), kth_neighbour_radii(fake, k, precision)
    in_real_balls = np.zeros(len(fake))  # per generated sample: how many real balls contain it
    covered = np.zeros(len(real), dtype=bool)
    recalled = np.zeros(len(real), dtype=bool)
    for s in range(0, len(real), BLOCK):
        d = _distances(_f64(real[s:s + BLOCK]), fake, precision)  # (block of real, fake)
        inside = d < real_r[s:s + BLOCK, None]
        in_real_balls += inside.sum(0)
        covered[s:s + BLOCK] = d.min(1) < real_r[s:s + BLOCK]
        recalled[s:s + BLOCK] = (d < fake_r[None, :]).any(1)
    return {"precision": float(w @ (in_real_balls > 0) / w.sum()), "recall": float(recalled.mean()),
            "density": float(w @ in_real_balls / w.sum() / k), "coverage": float(covered.mean())}
