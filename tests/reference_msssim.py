"""MS-SSIM written from its definition (Wang, Simoncelli & Bovik 2003), in float64: the independent
reference the suite's MS-SSIM (pytorch-msssim, see cxrgen_bench/functional/msssim.py) is tested
against. It was the suite's own implementation until a benchmark showed the library faster at equal
values (benchmarks/README.md); it stays here as the parity test.

Conventions (those of pytorch-msssim and the official RoentGen evaluation): Gaussian window 11,
σ 1.5, the five standard scale weights, K=(0.01, 0.03); the filter is applied separably with no
padding ("valid"); between scales images are 2×2 average-pooled, padding odd sizes; the
contrast-structure terms of the first four scales and the SSIM of the last are clipped at zero
before the weighted product, so the result lies in [0, 1].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    coords = torch.arange(size, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    return g / g.sum()


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
