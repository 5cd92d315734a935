"""AUROC per class (RoentGen Table 3) and the "filtered average".

AUROC is computed as the Mann-Whitney statistic with average ranks for ties, which equals the area
under the trapezoidal ROC curve that scikit-learn integrates. A class whose labels take a single
value has no AUROC: it is reported as None, never as 0.5.

Why our own code and not scikit-learn's `roc_auc_score` or torchmetrics' `binary_auroc`: a scoring
run computes AUROC for every class in every bootstrap replicate, and in `benchmarks/library_peers.py`
(5,000 images × 11 classes, point estimate + 200 replicates, 2 cores) ours takes 1.4 s against
8.7 s for scikit-learn and 2.4 s for torchmetrics, at equal values (largest difference 2e-16 to
scikit-learn, which stays the parity test in tests/test_auroc.py).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np


def binary_auroc(scores: Any, labels: Any) -> float | None:
    """AUROC of one class; labels are 0/1 (rows with NaN are ignored). None when undefined."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores {s.shape} and labels {y.shape} differ in length")
    keep = ~np.isnan(y)
    s, y = s[keep], y[keep]
    if not np.isfinite(s).all():
        # rankdata would rank NaN scores anywhere and return a plausible number (scikit-learn raises too)
        bad = np.flatnonzero(~np.isfinite(s))
        raise ValueError(f"{len(bad)} classifier score(s) are NaN or infinite (first at row {int(bad[0])} of the "
                         "labelled rows): a diverged classifier or a broken image, not a score")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"labels must be 0, 1 or NaN; found {sorted(set(y.tolist()) - {0.0, 1.0})}")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    from scipy.stats import rankdata  # scipy.stats takes ~1 s to import: only when needed

    ranks = rankdata(s)  # average ranks: ties count one half, as in the trapezoidal ROC area
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classwise_auroc(scores: Any, labels: Any, class_names: Sequence[str]) -> dict[str, float | None]:
    """AUROC for each column; NaN labels mean unknown and skip that row for that class only."""
    s = np.asarray(scores.detach().cpu() if hasattr(scores, "detach") else scores, dtype=np.float64)
    y = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels, dtype=np.float64)
    if s.ndim == 1:
        s, y = s[:, None], y.reshape(-1, 1)
    if s.shape != y.shape or s.shape[1] != len(class_names):
        raise ValueError(f"scores {s.shape}, labels {y.shape} and {len(class_names)} class names do not agree")
    return {name: binary_auroc(s[:, j], y[:, j]) for j, name in enumerate(class_names)}


def macro_average(per_class: Mapping[str, float | None], classes: Sequence[str] | None = None) -> float | None:
    """Mean over the given (default: all) classes with a defined AUROC; None when none is defined."""
    names = list(per_class) if classes is None else list(classes)
    values = [per_class[c] for c in names if per_class.get(c) is not None]
    return float(np.mean(values)) if values else None


def filtered_classes(baseline: Mapping[str, float | None], threshold: float) -> list[str]:
    """Classes whose AUROC on the real images (baseline row) exceeds ``threshold``."""
    return [c for c, v in baseline.items() if v is not None and v > threshold]


def filtered_average(per_class: Mapping[str, float | None], baseline: Mapping[str, float | None],
                     threshold: float = 0.75) -> tuple[float | None, list[str]]:
    """RoentGen's "filtered average": macro-average over classes the classifier reads well on real images."""
    classes = filtered_classes(baseline, threshold)
    return macro_average(per_class, classes), classes
