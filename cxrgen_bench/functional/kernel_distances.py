"""Kernel distances between feature sets: KID (Bińkowski et al. 2018) and CMMD (Jayasumana et al. 2024).

KID is the unbiased MMD² with the cubic polynomial kernel k(x, y) = (xᵀy / d + 1)³, averaged over
random subsets drawn without replacement from each set (torch-fidelity's estimator and subset draws:
same seed, same numbers; clean-fid's when the subset is the whole set);
the subset size is never larger than the smaller set (it is clipped, and the caller records it):
CheXGenBench sets it to the whole set, which makes every subset the same and the spread meaningless.

CMMD is the MMD² (the biased V-statistic, diagonal included, as its reference implementation) with a
Gaussian RBF kernel exp(−‖x − y‖² / (2σ²)), σ = 10, on CLIP image embeddings, times 1000.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError

CMMD_SCALE = 1000.0
GRAM_LIMIT = 8000  # up to this many samples per set, KID computes each kernel matrix once (≤ 1.5 GB in all)
BLOCK = 2048  # rows converted to float64 and multiplied at a time where a whole set is summed over


def _check(x: np.ndarray, y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The two sets as given (a memory-mapped float32 matrix stays one: callers take float64 copies of the
    rows they use, block by block), checked for shape and finiteness a block at a time."""
    x, y = (a if isinstance(a, np.ndarray) and a.dtype.kind == "f" else np.asarray(a, np.float64) for a in (x, y))
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise InputError(f"{what}: two (n, d) feature arrays of the same d are needed, got {x.shape} and {y.shape}")
    if not all(np.isfinite(a[s:s + BLOCK]).all() for a in (x, y) for s in range(0, len(a), BLOCK)):
        raise InputError(f"{what}: features contain NaN or infinity (a diverged model or a broken image?)")
    return x, y


def _f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² of two equal-size sets with the cubic polynomial kernel."""
    m, d = x.shape
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2 * kxy.sum() / (m * m))


def kid_subsets(feats1: np.ndarray, feats2: np.ndarray, subset_size: int = 1000, subsets: int = 100,
                seed: int = 0) -> tuple[np.ndarray, int]:
    """The MMD² of every subset, and the subset size used (clipped to the smaller set)."""
    x, y = _check(feats1, feats2, "KID")
    size = min(int(subset_size), len(x), len(y))
    if size < 2:
        raise InputError(f"KID needs at least 2 features per set; got {len(x)} and {len(y)}")
    if subsets < 1:
        raise InputError("KID needs at least one subset")
    # torch-fidelity's draw order and generator: with the same seed, the same subsets (and values)
    rng = np.random.RandomState(seed)
    draws = [(rng.choice(len(x), size, replace=False), rng.choice(len(y), size, replace=False))
             for _ in range(subsets)]
    values = np.empty(subsets)
    if max(len(x), len(y)) <= GRAM_LIMIT and subsets * size > max(len(x), len(y)):
        # Many subsets overlap: the three kernel matrices once (one product each), then index sums per subset.
        x, y = _f64(x), _f64(y)
        kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
        for i, (a, b) in enumerate(draws):
            within = (kxx[np.ix_(a, a)].sum() - kxx[a, a].sum() + kyy[np.ix_(b, b)].sum() - kyy[b, b].sum())
            values[i] = within / (size * (size - 1)) - 2 * kxy[np.ix_(a, b)].sum() / (size * size)
        return values, size
    for i, (a, b) in enumerate(draws):
        values[i] = polynomial_mmd2(_f64(x[a]), _f64(y[b]))  # only the subset's rows are read
    return values, size


def kid(feats1: np.ndarray, feats2: np.ndarray, subset_size: int = 1000, subsets: int = 100,
        seed: int = 0) -> tuple[float, float]:
    """Kernel inception distance: (mean, std) of the unbiased polynomial MMD² over random subsets."""
    values, _ = kid_subsets(feats1, feats2, subset_size, subsets, seed)
    return float(values.mean()), float(values.std())


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (CMMD's CLIP embeddings are compared as unit vectors)."""
    x = np.asarray(x)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def cmmd(x_emb: np.ndarray, y_emb: np.ndarray, sigma: float = 10.0) -> float:
    """CMMD: 1000 × MMD² (V-statistic) with a Gaussian RBF kernel of bandwidth `sigma`."""
    x, y = _check(x_emb, y_emb, "CMMD")

    def mean_kernel(a: np.ndarray, b: np.ndarray) -> float:  # in blocks: never an n × n matrix
        return _block_sum(lambda p, q: rbf_kernel(p, q, sigma), a, b)[0] / (len(a) * len(b))

    return CMMD_SCALE * (mean_kernel(x, x) + mean_kernel(y, y) - 2 * mean_kernel(x, y))


def polynomial_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1) ** 3


def rbf_kernel(a: np.ndarray, b: np.ndarray, sigma: float = 10.0) -> np.ndarray:
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.exp(-np.maximum(d2, 0.0) / (2 * sigma ** 2))


def _block_sum(kernel, a: np.ndarray, b: np.ndarray, block: int = BLOCK) -> tuple[float, float]:
    """(sum of all entries, sum of the diagonal) of kernel(a, b) without holding it or either set in float64:
    block × block tiles of rows converted as they are used (a is b for the diagonal)."""
    total = diag = 0.0
    for s in range(0, len(a), block):
        left = _f64(a[s:s + block])
        for t in range(0, len(b), block):
            k = kernel(left, left if a is b and s == t else _f64(b[t:t + block]))
            total += float(k.sum())
            if a is b and s == t:
                diag += float(np.trace(k))
    return total, diag


def mmd2_replicates(generated: np.ndarray, reference: np.ndarray, kernel, unbiased: bool,
                    max_generated: int = 8000):
    """Bootstrap replicates of the full-sample MMD² with the generated side resampled (prompt
    multiplicities `weights`, (B, n)) and the reference held fixed: the kernel matrices are computed
    once, each replicate is two weighted sums. Unbiased (U-statistic, KID's) or the V-statistic (CMMD's)."""
    if len(generated) > max_generated:
        raise InputError(f"bootstrap of a kernel distance holds an n×n kernel matrix: {len(generated)} generated "
                         f"images exceed {max_generated}")
    g, r = _f64(generated), reference  # the reference is read a block at a time (it may be memory-mapped)
    k_gg = kernel(g, g)
    cross = np.zeros(len(g))  # per generated row: the sum of its kernel values against every reference row
    for t in range(0, len(r), BLOCK):
        cross += kernel(g, _f64(r[t:t + BLOCK])).sum(1)
    rr_sum, rr_diag = _block_sum(kernel, r, r)
    m = len(r)
    within_r = (rr_sum - rr_diag) / (m * (m - 1)) if unbiased else rr_sum / (m * m)
    k_diag = np.diag(k_gg)

    def run(weights: np.ndarray) -> np.ndarray:
        w = np.asarray(weights, np.float64)
        n = w.sum(1)
        quad = np.einsum("bi,ij,bj->b", w, k_gg, w)
        within_g = (quad - w @ k_diag) / (n * (n - 1)) if unbiased else quad / (n * n)
        return within_g + within_r - 2 * (w @ cross) / (n * m)

    return run
