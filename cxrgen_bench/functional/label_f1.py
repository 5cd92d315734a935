"""F1 between two reports' CheXpert labels (F1-CheXbert of ViLMedic/RoentGen Table 4, or the same
with another labeller): labels are binary after the metric's policy (RoentGen: positive and uncertain
count as 1); micro-F1 pools true/false positives and negatives over all classes and reports, macro-F1
averages the per-class F1 (a class with no positive in either is left out). Parity: scikit-learn's
f1_score (tests/test_label_f1.py)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def positive_or_uncertain(labels: Any) -> np.ndarray:
    """F1-CheXbert's binarisation of labeller output (1 positive, 0 negative, −1 uncertain, NaN not
    mentioned): positive and uncertain count as 1, the rest as 0."""
    return np.isin(np.asarray(labels, dtype=np.float64), (1.0, -1.0)).astype(np.float64)


def label_counts(hyp_labels: Any, ref_labels: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per report and class: true positives, false positives, false negatives (each (n, C) of 0/1)."""
    h = np.asarray(hyp_labels, dtype=np.float64)
    r = np.asarray(ref_labels, dtype=np.float64)
    if h.shape != r.shape or h.ndim != 2:
        raise ValueError(f"hypothesis labels {h.shape} and reference labels {r.shape} must both be (n, C)")
    if not (np.isin(h, (0.0, 1.0)).all() and np.isin(r, (0.0, 1.0)).all()):
        raise ValueError("labels must be 0 or 1 (apply the label policy first)")
    return h * r, h * (1 - r), (1 - h) * r


def f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[float, np.ndarray]:
    """Micro-F1 of summed counts, and per-class F1 (NaN where a class has no positive anywhere)."""
    micro_den = 2 * tp.sum() + fp.sum() + fn.sum()
    micro = float(2 * tp.sum() / micro_den) if micro_den else 0.0
    den = 2 * tp.sum(axis=0) + fp.sum(axis=0) + fn.sum(axis=0)
    per_class = np.divide(2 * tp.sum(axis=0), den, out=np.full(den.shape, np.nan), where=den > 0)
    return micro, per_class


def chexpert_f1(hyp_labels: Any, ref_labels: Any, class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """``{"micro_f1": float, "macro_f1": float | None, "per_class": {name: float | None}}`` of (n, C)
    binary label vectors of hypothesis and reference reports (equal lengths)."""
    tp, fp, fn = label_counts(hyp_labels, ref_labels)
    micro, per_class = f1_from_counts(tp, fp, fn)
    names = list(class_names) if class_names is not None else [str(j) for j in range(tp.shape[1])]
    defined = per_class[np.isfinite(per_class)]
    return {"micro_f1": micro, "macro_f1": float(defined.mean()) if defined.size else None,
            "per_class": {name: None if not np.isfinite(v) else float(v) for name, v in zip(names, per_class)}}
