"""Multi-scale structural similarity (Wang, Simoncelli & Bovik 2003), the diversity measure of
RoentGen Table 2 / Fig. 3: Gaussian window 11, σ 1.5, the five standard scale weights, K=(0.01, 0.03).

Computed by pytorch-msssim, the library the official RoentGen evaluation used
(`eval/calculate_ms-ssim.py`); this module checks inputs and says clearly what is wrong (the library
asserts). Why the library and not our own code: in `benchmarks/library_peers.py` (4 samples → 6 pairs
per prompt at 512², 2 cores, best of 5 interleaved rounds) pytorch-msssim takes 0.44 s per prompt in
float64 and 0.24 s in float32, against 0.48 s for the float64 implementation this module used to
hold, at largest differences of 7.7e-7 and 1.3e-6: no faster at equal values, so the well-kept
library computes it, and that implementation lives on in tests/reference_msssim.py as the
from-definition parity reference. torchmetrics' MS-SSIM is not used: its conventions differ (5.5e-4 on random
images, up to 0.05 on real radiographs).

Precision: float64 by default, because in float32 a pair's value depends on the convolution's shape
(up to 4e-6: kernels are chosen by input size); float32 (the official run's) is a profile option.

Memory: pairs are computed one at a time, and each scale's SSIM and contrast maps are taken in
bands of rows (`band_pixels` output pixels, 4 Mi by default: 32 MiB per float64 intermediate), whose
means are combined weighted by their rows. The library computes the same per-pixel maps; only the
final mean is summed in another order (≤ 1e-15 in float64). Images up to 2048 px per side fit in one
band, so their values are the library's bit for bit. A pair then needs its two images at full size
in the chosen precision, their half-size copies and the bands. Measured for one prompt's 4 samples
(6 pairs, float64, `benchmarks/msssim_memory.py`, memory added above the imports, decoded images
included): 0.80 GiB at 2048² (4.55 GiB stacked as before), 3.0 GiB at 8000².
"""
from __future__ import annotations

import torch

from ..errors import MetricError

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
PRECISIONS = {"float32": torch.float32, "float64": torch.float64}
BAND_PIXELS = 1 << 22  # output pixels per band: 32 MiB per float64 intermediate; 2048² images fit in one


def min_side_for(win_size: int = 11, levels: int = len(MS_SSIM_WEIGHTS)) -> int:
    """Smallest image side MS-SSIM accepts: the window must fit after levels−1 halvings."""
    return (win_size - 1) * 2 ** (levels - 1) + 1


def ms_ssim(img1: torch.Tensor, img2: torch.Tensor, data_range: float = 1.0, win_size: int = 11,
            sigma: float = 1.5, weights: tuple[float, ...] = MS_SSIM_WEIGHTS,
            k: tuple[float, float] = (0.01, 0.03), precision: str = "float64",
            band_pixels: int = BAND_PIXELS) -> torch.Tensor:
    """MS-SSIM of each pair in two batches shaped (N, C, H, W); returns N float64 values (channel mean).
    Pairs are computed one by one, each scale in bands of about ``band_pixels`` output pixels (memory)."""

    if img1.shape != img2.shape:
        raise MetricError(f"MS-SSIM needs images of the same shape, got {tuple(img1.shape)} and {tuple(img2.shape)}")
    if img1.ndim != 4:
        raise MetricError(f"MS-SSIM expects (N, C, H, W) batches, got shape {tuple(img1.shape)}")
    need = min_side_for(win_size, len(weights))
    library_need = (win_size - 1) * 2 ** 4 + 1  # pytorch-msssim assumes five scales in its size check
    if min(img1.shape[-2:]) < max(need, library_need):
        raise MetricError(f"MS-SSIM with window {win_size} over {len(weights)} scales needs images of at least "
                          f"{need}×{need} px (larger than {need - 1}); got {tuple(img1.shape[-2:])}. Score "
                          "images at their generated resolution, not thumbnails.")
    if precision not in PRECISIONS:
        raise MetricError(f"MS-SSIM precision {precision!r} unknown; choose from {', '.join(PRECISIONS)}")
    dtype = PRECISIONS[precision]
    values = [_ms_ssim_pair(img1[i:i + 1].to(dtype), img2[i:i + 1].to(dtype), data_range, win_size, sigma,
                            weights, k, band_pixels) for i in range(img1.shape[0])]
    return torch.cat(values).to(torch.float64) if values else torch.zeros(0, dtype=torch.float64)


def _ms_ssim_pair(x: torch.Tensor, y: torch.Tensor, data_range: float, win_size: int, sigma: float,
                  weights: tuple[float, ...], k: tuple[float, float], band_pixels: int) -> torch.Tensor:
    """pytorch_msssim.ms_ssim for one pair (1, C, H, W), its SSIM maps taken in bands of rows."""
    from pytorch_msssim.ssim import _fspecial_gauss_1d

    win = _fspecial_gauss_1d(win_size, sigma).repeat([x.shape[1], 1, 1, 1])
    weights_tensor = x.new_tensor(weights)
    mcs = []
    for level in range(len(weights)):
        ssim_per_channel, cs = _banded_ssim(x, y, win, data_range, k, band_pixels)
        if level < len(weights) - 1:
            mcs.append(torch.relu(cs))
            padding = [side % 2 for side in x.shape[2:]]
            x = torch.nn.functional.avg_pool2d(x, kernel_size=2, padding=padding)
            y = torch.nn.functional.avg_pool2d(y, kernel_size=2, padding=padding)
    ssim_per_channel = torch.relu(ssim_per_channel)
    stacked = torch.stack(mcs + [ssim_per_channel], dim=0)
    return torch.prod(stacked ** weights_tensor.view(-1, 1, 1), dim=0).mean(1)


def _banded_ssim(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor, data_range: float, k: tuple[float, float],
                 band_pixels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The library's per-channel SSIM and contrast means, from bands of output rows: a valid
    convolution's output row r reads input rows r..r+win−1, so bands overlapping by win−1 input rows
    give exactly the full maps' rows."""
    from pytorch_msssim.ssim import _ssim

    span = win.shape[-1] - 1
    out_rows, out_cols = x.shape[-2] - span, max(x.shape[-1] - span, 1)
    rows = max(1, band_pixels // out_cols)
    if rows >= out_rows:  # one band: the library's own call
        return _ssim(x, y, data_range=data_range, win=win, size_average=False, K=k)
    ssim_sum = cs_sum = None
    for top in range(0, out_rows, rows):
        n = min(rows, out_rows - top)
        s, c = _ssim(x[..., top:top + n + span, :], y[..., top:top + n + span, :], data_range=data_range, win=win,
                     size_average=False, K=k)
        s, c = s.to(torch.float64) * n, c.to(torch.float64) * n  # row-weighted: bands may differ in height
        ssim_sum = s if ssim_sum is None else ssim_sum + s
        cs_sum = c if cs_sum is None else cs_sum + c
    return (ssim_sum / out_rows).to(x.dtype), (cs_sum / out_rows).to(x.dtype)
