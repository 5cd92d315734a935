"""Per-pair image fidelity of a reconstruction (seeds/001 §2.3): RMSE, PSNR and SSIM of each
original/reconstruction pair, and how a classifier's readings of the two agree.

Images are the canonical grayscale of `cxrgen_bench.data.images`: float (N, H, W) in [0, 1], so the
data range is 1. Everything is computed in float64.

- RMSE: √mean((x − y)²) per pair.
- PSNR: 10·log10(1 / MSE). Identical images have MSE 0 and an infinite PSNR; results must hold finite
  numbers, so PSNR is capped at `PSNR_CAP_DB` (100 dB, an RMSE of 1e-5: closer than one step of a
  16-bit image, 1.5e-5) and callers report how many pairs were identical or reached the cap.
- SSIM (Wang et al. 2004): Gaussian window 11×11, σ 1.5, K = (0.01, 0.03), population (not sample)
  covariances, averaged over the "valid" positions where the whole window lies inside the image: the
  conventions of `skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=1)`, with which tests/test_reconstruction.py checks parity.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import MetricError

PSNR_CAP_DB = 100.0
SSIM_WIN = 11
SSIM_SIGMA = 1.5
SSIM_K = (0.01, 0.03)


def _pairs(originals: np.ndarray | torch.Tensor, reconstructions: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(np.asarray(originals), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(reconstructions), dtype=torch.float64)
    if x.shape != y.shape:
        raise MetricError(f"originals and reconstructions differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
    if x.ndim == 2:
        x, y = x[None], y[None]
    if x.ndim != 3:
        raise MetricError(f"expected (N, H, W) grayscale batches, got shape {tuple(x.shape)}")
    return x, y


def mse(originals, reconstructions) -> np.ndarray:
    x, y = _pairs(originals, reconstructions)
    return ((x - y) ** 2).mean(dim=(1, 2)).numpy()


def rmse(originals, reconstructions) -> np.ndarray:
    """(N,) root mean square error per pair (0 for identical images)."""
    return np.sqrt(mse(originals, reconstructions))


def psnr_from_mse(values: np.ndarray, cap_db: float = PSNR_CAP_DB) -> np.ndarray:
    """PSNR in dB for data range 1, capped at ``cap_db`` (identical pairs get the cap, never inf)."""
    values = np.asarray(values, np.float64)
    floor = 10.0 ** (-cap_db / 10.0)  # the MSE at which PSNR reaches the cap
    return 10.0 * np.log10(1.0 / np.maximum(values, floor))


def psnr(originals, reconstructions, cap_db: float = PSNR_CAP_DB) -> np.ndarray:
    return psnr_from_mse(mse(originals, reconstructions), cap_db)


def gaussian_window(size: int = SSIM_WIN, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """The normalised 1-D Gaussian of ``size`` taps (the separable SSIM window)."""
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(offsets ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter over (N, 1, H, W), valid positions only."""
    x = torch.nn.functional.conv2d(x, g.view(1, 1, 1, -1))
    return torch.nn.functional.conv2d(x, g.view(1, 1, -1, 1))


def ssim(originals, reconstructions, win_size: int = SSIM_WIN, sigma: float = SSIM_SIGMA,
         k: tuple[float, float] = SSIM_K, data_range: float = 1.0) -> np.ndarray:
    """(N,) mean SSIM per pair (see the module docstring for the conventions)."""
    x, y = _pairs(originals, reconstructions)
    if min(x.shape[-2:]) < win_size:
        raise MetricError(f"SSIM with an {win_size}×{win_size} window needs images of at least {win_size} px per "
                          f"side; got {tuple(x.shape[-2:])}")
    g = gaussian_window(win_size, sigma)
    x, y = x[:, None], y[:, None]
    mu_x, mu_y = _blur(x, g), _blur(y, g)
    # E[x²] − μ² is the population variance under the window's weights (skimage's use_sample_covariance=False)
    var_x = _blur(x * x, g) - mu_x ** 2
    var_y = _blur(y * y, g) - mu_y ** 2
    cov = _blur(x * y, g) - mu_x * mu_y
    c1, c2 = (k[0] * data_range) ** 2, (k[1] * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return s.mean(dim=(1, 2, 3)).numpy()


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) cosine similarity of paired rows (0 when a row is all zeros: no direction to compare)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = (a * b).sum(axis=1)
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def weighted_accuracy(pred: np.ndarray, truth: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Accuracy of binary (n, c) predictions per class, under (B, n) resampling weights → (B, c).
    Rows with an unknown truth (NaN, a label policy's "skip") do not count."""
    known = np.isfinite(truth)
    correct = ((pred == truth) & known).astype(np.float64)
    total = weights @ known.astype(np.float64)
    return np.divide(weights @ correct, total, out=np.full(total.shape, np.nan), where=total > 0)


def weighted_f1(pred: np.ndarray, truth: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """F1 of the positive class per class under (B, n) weights → (B, c); NaN where a class has neither
    positive labels nor positive predictions (F1 undefined, not 0)."""
    known = np.isfinite(truth)
    t = (truth == 1) & known
    p = (pred == 1) & known
    tp = weights @ (t & p).astype(np.float64)
    fp = weights @ (~t & p & known).astype(np.float64)
    fn = weights @ (t & ~p).astype(np.float64)
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.full(tp.shape, np.nan), where=denominator > 0)


def percent_change(before: float | None, after: float | None) -> float | None:
    """(after − before) / before × 100, as seeds/001 Table 1 prints it; undefined when before is 0."""
    if before is None or after is None or not math.isfinite(before) or not math.isfinite(after) or before == 0:
        return None
    return (after - before) / before * 100.0
