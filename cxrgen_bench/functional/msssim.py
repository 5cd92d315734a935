"""Multi-scale structural similarity (Wang, Simoncelli & Bovik 2003), the diversity measure of
RoentGen Table 2 / Fig. 3: Gaussian window 11, σ 1.5, the five standard scale weights, K=(0.01, 0.03).

Conventions (the ones pytorch-msssim uses, which we match to 1e-5 in tests): the Gaussian filter is
applied separably with no padding ("valid"); between scales images are 2×2 average-pooled, padding
odd sizes; contrast-structure terms of the first four scales and the SSIM of the last are clipped at
zero before the weighted product, so the result lies in [0, 1].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import MetricError

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    coords = torch.arange(size, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def min_side_for(win_size: int = 11, levels: int = len(MS_SSIM_WEIGHTS)) -> int:
    """Smallest image side MS-SSIM accepts: the window must fit after levels−1 halvings."""
    return (win_size - 1) * 2 ** (levels - 1) + 1


def _blur(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    k = win.to(x.dtype)
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _ssim_terms(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor, data_range: float,
                k: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    c1 = (k[0] * data_range) ** 2
    c2 = (k[1] * data_range) ** 2
    mu_x, mu_y = _blur(x, win), _blur(y, win)
    var_x = _blur(x * x, win) - mu_x ** 2
    var_y = _blur(y * y, win) - mu_y ** 2
    cov_xy = _blur(x * y, win) - mu_x * mu_y
    cs_map = (2 * cov_xy + c2) / (var_x + var_y + c2)
    ssim_map = (2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def ms_ssim(img1: torch.Tensor, img2: torch.Tensor, data_range: float = 1.0, win_size: int = 11,
            sigma: float = 1.5, weights: tuple[float, ...] = MS_SSIM_WEIGHTS,
            k: tuple[float, float] = (0.01, 0.03)) -> torch.Tensor:
    """MS-SSIM of each pair in two batches shaped (N, C, H, W); returns N values (channel mean)."""
    if img1.shape != img2.shape:
        raise MetricError(f"MS-SSIM needs images of the same shape, got {tuple(img1.shape)} and {tuple(img2.shape)}")
    if img1.ndim != 4:
        raise MetricError(f"MS-SSIM expects (N, C, H, W) batches, got shape {tuple(img1.shape)}")
    need = min_side_for(win_size, len(weights))
    if min(img1.shape[-2:]) < need:
        raise MetricError(f"MS-SSIM with window {win_size} over {len(weights)} scales needs images of at least "
                          f"{need}×{need} px (larger than {need - 1}); got {tuple(img1.shape[-2:])}. Score "
                          "images at their generated resolution, not thumbnails.")
    dtype = torch.float64
    x, y = img1.to(dtype), img2.to(dtype)
    win = gaussian_window(win_size, sigma, dtype).to(x.device)
    w = torch.tensor(weights, dtype=dtype, device=x.device)
    factors = []
    for level in range(len(weights)):
        ssim_val, cs_val = _ssim_terms(x, y, win, data_range, k)
        if level < len(weights) - 1:
            factors.append(torch.relu(cs_val))
            pad = [s % 2 for s in x.shape[-2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=pad)
            y = F.avg_pool2d(y, kernel_size=2, padding=pad)
    factors.append(torch.relu(ssim_val))
    stacked = torch.stack(factors, dim=0)  # (levels, N, C)
    return torch.prod(stacked ** w.view(-1, 1, 1), dim=0).mean(dim=1)
