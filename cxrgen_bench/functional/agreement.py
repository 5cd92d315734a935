"""Agreement between raters: weighted Cohen's κ (two raters) and Krippendorff's α (any number, missing
ratings allowed). Arrays in, a float out; no I/O. The reader study (`cxrgen_bench.reader.analysis`) uses
both on its −2…2 scales; the parity tests hold them against scikit-learn and the `krippendorff` package.

Missing ratings are NaN (any non-finite value; None where κ is given category names instead of numbers). Undefined values are NaN, never an exception: κ when no
item was rated by both raters, or when chance disagreement is zero (every rating of both raters is one
and the same category); α when no item has two ratings, or when all pairable ratings are one value.
Malformed input (mismatched lengths, a ratings table that is not 2-D, an unknown weighting or level, a
rating outside the categories named by ``labels``) raises `InputError`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError

KAPPA_WEIGHTS = ("quadratic", "linear", None)
ALPHA_LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _category_index(values: np.ndarray, categories: np.ndarray, where: str) -> np.ndarray:
    order = np.argsort(categories, kind="stable")
    sorted_cats = categories[order]
    pos = np.searchsorted(sorted_cats, values)
    pos = np.clip(pos, 0, len(sorted_cats) - 1)
    unknown = sorted_cats[pos] != values
    if unknown.any():
        raise InputError(f"{where}: rating(s) {sorted(set(values[unknown].tolist()))[:10]} are not among the "
                         f"categories {categories.tolist()}")
    return order[pos]


def cohen_kappa(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, weights: str | None = "quadratic",
                *, labels: Sequence[float] | None = None) -> float:
    """Cohen's κ between two raters' ratings of the same items, weighted for ordinal scales.

    κ = 1 − Σ w·O / Σ w·E, with O the confusion matrix of the two raters, E = outer(row sums, column
    sums) / n the confusion expected by chance, and w_ij = (i − j)² ("quadratic"), |i − j| ("linear") or
    [i ≠ j] (None, unweighted), where i, j index the categories. The categories are ``labels`` in the
    order given, or else the sorted values either rater used (scikit-learn's `cohen_kappa_score` rule:
    with a category nobody used, pass the whole scale as ``labels`` to weigh by scale steps).

    Items where either rating is missing (NaN) are left out. NaN when no item is left or chance
    disagreement is zero (a single category overall)."""
    if weights not in KAPPA_WEIGHTS:
        raise InputError(f"cohen_kappa: weights must be 'quadratic', 'linear' or None, not {weights!r}")
    if np.ndim(a) > 1 or np.ndim(b) > 1:
        raise InputError("cohen_kappa: a and b must be 1-D sequences of ratings (one per item)")
    try:
        x, y = np.asarray(a, dtype=np.float64).reshape(-1), np.asarray(b, dtype=np.float64).reshape(-1)
        categories = None if labels is None else np.asarray(labels, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):  # category names (strings): ranks of their sorted order, None = missing
        return _kappa_of_names(a, b, weights, labels)
    if x.shape != y.shape:
        raise InputError(f"cohen_kappa: a and b rate different numbers of items ({x.size} vs {y.size})")
    both = np.isfinite(x) & np.isfinite(y)
    x, y = x[both], y[both]
    if categories is not None:
        if categories.size == 0 or not np.isfinite(categories).all() or np.unique(categories).size != categories.size:
            raise InputError("cohen_kappa: labels must be distinct finite values")
    else:
        categories = np.unique(np.concatenate([x, y]))
    if x.size == 0 or categories.size == 0:
        return float("nan")
    i = _category_index(x, categories, "cohen_kappa, a")
    j = _category_index(y, categories, "cohen_kappa, b")
    k = categories.size
    observed = np.zeros((k, k), dtype=np.float64)
    np.add.at(observed, (i, j), 1.0)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    steps = np.abs(np.subtract.outer(np.arange(k), np.arange(k))).astype(np.float64)
    w = steps ** 2 if weights == "quadratic" else steps if weights == "linear" else (steps > 0).astype(np.float64)
    chance = float((w * expected).sum())
    if chance <= 0.0:
        return float("nan")
    return float(1.0 - (w * observed).sum() / chance)


def _kappa_of_names(a: Sequence, b: Sequence, weights: str | None, labels: Sequence | None) -> float:
    x, y = list(a), list(b)
    if len(x) != len(y):
        raise InputError(f"cohen_kappa: a and b rate different numbers of items ({len(x)} vs {len(y)})")
    def missing(v: object) -> bool:
        return v is None or (isinstance(v, float) and np.isnan(v))

    pairs = [(p, q) for p, q in zip(x, y) if not missing(p) and not missing(q)]
    try:
        names = list(labels) if labels is not None else sorted({v for pair in pairs for v in pair})
    except TypeError:
        raise InputError("cohen_kappa: ratings must be numbers, or category names of one type") from None
    if len(set(names)) != len(names):
        raise InputError("cohen_kappa: labels must be distinct")
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted({str(v) for pair in pairs for v in pair if v not in index})
    if unknown:
        raise InputError(f"cohen_kappa: rating(s) {unknown[:10]} are not among the categories {names}")
    return cohen_kappa([index[p] for p, _ in pairs], [index[q] for _, q in pairs], weights,
                       labels=list(range(len(names))) if names else None)


def _delta2(level: str, values: np.ndarray, n_v: np.ndarray) -> np.ndarray:
    """Squared distance between every two values of the domain (Krippendorff 2011, §7)."""
    if level == "nominal":
        return 1.0 - np.eye(values.size)
    if level == "interval":
        return np.subtract.outer(values, values) ** 2
    if level == "ratio":
        diff, total = np.subtract.outer(values, values), np.add.outer(values, values)
        return np.divide(diff, total, out=np.zeros_like(diff), where=total != 0) ** 2
    # ordinal: the frequency mass between two ranks, both ends counted half
    cum = np.concatenate([[0.0], np.cumsum(n_v)])
    lo, hi = np.minimum.outer(np.arange(values.size), np.arange(values.size)), \
        np.maximum.outer(np.arange(values.size), np.arange(values.size))
    between = cum[hi + 1] - cum[lo]
    return (between - (n_v[lo] + n_v[hi]) / 2.0) ** 2


def krippendorff_alpha(ratings: Sequence[Sequence[float]] | np.ndarray, level: str = "ordinal") -> float:
    """Krippendorff's α of a readers × items table of ratings, NaN where a reader did not rate an item.

    α = 1 − D_o / D_e from the coincidence matrix o of the pairable values (items with at least two
    ratings): o_ck = Σ_u (ordered pairs of ratings c, k in item u) / (m_u − 1), n_c = Σ_k o_ck,
    D_o = Σ o_ck δ²_ck and D_e = Σ n_c n_k δ²_ck / (n − 1), with δ² the ``level``'s distance: nominal
    (different or not), ordinal (rank mass between two values), interval ((c − k)²) or ratio
    (((c − k)/(c + k))²). NaN when no item has two ratings or every pairable rating is the same value."""
    if level not in ALPHA_LEVELS:
        raise InputError(f"krippendorff_alpha: level must be one of {', '.join(ALPHA_LEVELS)}, not {level!r}")
    table = np.asarray(ratings, dtype=np.float64)
    if table.ndim != 2:
        raise InputError(f"krippendorff_alpha: ratings must be a 2-D readers × items table, not {table.ndim}-D")
    table = np.where(np.isfinite(table), table, np.nan)
    counts_per_item = np.isfinite(table).sum(axis=0)
    pairable = table[:, counts_per_item >= 2]
    if pairable.size == 0 or not np.isfinite(pairable).any():
        return float("nan")
    values = np.unique(pairable[np.isfinite(pairable)])
    if values.size < 2:
        return float("nan")
    if level == "ratio" and (values < 0).any():
        raise InputError("krippendorff_alpha: the ratio level needs ratings ≥ 0")
    n_items = pairable.shape[1]
    counts = np.zeros((n_items, values.size), dtype=np.float64)  # per item, how often each value was given
    item_idx, reader_idx = np.nonzero(np.isfinite(pairable.T))
    np.add.at(counts, (item_idx, np.searchsorted(values, pairable.T[item_idx, reader_idx])), 1.0)
    m = counts.sum(axis=1)
    per_item = 1.0 / (m - 1.0)
    coincidence = (counts * per_item[:, None]).T @ counts - np.diag((counts * per_item[:, None]).sum(axis=0))
    n_v = coincidence.sum(axis=1)
    n = n_v.sum()
    d2 = _delta2(level, values, n_v)
    expected = float((np.outer(n_v, n_v) * d2).sum() / (n - 1.0))
    if expected <= 0.0:
        return float("nan")
    return float(1.0 - (coincidence * d2).sum() / expected)


__all__ = ["ALPHA_LEVELS", "KAPPA_WEIGHTS", "cohen_kappa", "krippendorff_alpha"]
