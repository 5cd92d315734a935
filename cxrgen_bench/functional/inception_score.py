"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) ‖ p(y))), computed on each of `splits`
consecutive chunks of the (permuted) images and reported as the mean and the std over chunks.

`logits` are whatever a profile feeds the softmax. The standard definition uses the 1008 class logits
of the 2015-12-05 Inception without the output bias (torch-fidelity's `logits_unbiased`);
CheXGenBench's code (torchmetrics `InceptionScore(feature=2048)`) feeds it the 2048-d pool3 features
instead, a softmax over activations that are no class scores. Both are the same computation here.

Chunks follow torch's `chunk` (size ⌈n / splits⌉, so fewer than `splits` chunks when n is small), as
torchmetrics splits; the std is the sample std (n − 1), as torch's. Float64 throughout.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError


def inception_score(logits: Any, splits: int = 10, order: Any = None) -> tuple[float, float, np.ndarray]:
    """(mean, std) over chunks and each chunk's score. ``order``: a permutation of the rows applied before
    chunking (torchmetrics shuffles; None keeps the given order)."""
    x = np.asarray(logits, dtype=np.float64)
    if x.ndim != 2 or len(x) < 1:
        raise InputError(f"Inception Score needs an (n, classes) array of logits, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InputError("Inception Score: logits contain NaN or infinity")
    if splits < 1:
        raise InputError(f"Inception Score needs at least one split, got {splits}")
    if order is not None:
        x = x[np.asarray(order)]
    log_p = x - x.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    size = math.ceil(len(x) / splits)
    scores = []
    for start in range(0, len(x), size):
        p_c, log_c = p[start:start + size], log_p[start:start + size]
        log_marginal = np.log(p_c.mean(axis=0))
        scores.append(math.exp(float((p_c * (log_c - log_marginal)).sum(axis=1).mean())))
    values = np.asarray(scores)
    std = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
    return float(values.mean()), std, values
