"""Our MS-SSIM and AUROC against the well-kept libraries that compute the same numbers, in one run:
which is faster at equal values decides which the suite uses (the other stays as the parity test).

    python benchmarks/library_peers.py [--prompts 20] [--side 512] [--n 5000] [--resamples 200]

MS-SSIM: one prompt's 4 samples → 6 pairs at side²: the from-definition float64 implementation the
suite used to hold (tests/reference_msssim.py) vs pytorch-msssim in float64 (what the suite now runs)
and float32 (the official RoentGen run's) vs torchmetrics.
AUROC: n images × 11 classes, the point estimate and `resamples` bootstrap replicates (what a scoring
run computes): ours (average ranks) vs scikit-learn's roc_auc_score vs torchmetrics' binary_auroc.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def msssim_peers(prompts: int, side: int, repeats: int = 5) -> dict:
    import pytorch_msssim
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as tm_msssim

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.reference_msssim import ms_ssim as from_definition

    g = torch.Generator().manual_seed(0)
    base = torch.rand(prompts, 1, 1, side, side, generator=g)
    samples = (0.7 * base + 0.3 * torch.rand(prompts, 4, 1, side, side, generator=g))  # 4 samples per prompt
    pairs = list(itertools.combinations(range(4), 2))
    a = samples[:, [i for i, _ in pairs]].reshape(-1, 1, side, side)
    b = samples[:, [j for _, j in pairs]].reshape(-1, 1, side, side)

    def per_prompt(fn):
        return lambda: torch.cat([fn(a[k:k + 6], b[k:k + 6]) for k in range(0, len(a), 6)])

    routes = {
        "from definition, float64 (the former own code)": per_prompt(lambda x, y: from_definition(x, y).float()),
        "pytorch-msssim, float32": per_prompt(lambda x, y: pytorch_msssim.ms_ssim(x, y, data_range=1.0,
                                                                                  size_average=False)),
        "pytorch-msssim, float64 (cxrgen-bench's default)": per_prompt(lambda x, y: pytorch_msssim.ms_ssim(
            x.double(), y.double(), data_range=1.0, size_average=False).float()),
        "torchmetrics": per_prompt(lambda x, y: tm_msssim(x, y, data_range=1.0, reduction="none",
                                                          normalize="relu")),
    }
    # Rounds interleave the routes, so a busy moment of the machine does not favour one of them.
    times: dict[str, list[float]] = {name: [] for name in routes}
    values: dict[str, torch.Tensor] = {}
    for _ in range(repeats):
        for name, fn in routes.items():
            t = time.perf_counter()
            values[name] = fn()
            times[name].append(time.perf_counter() - t)
    reference = next(iter(values.values()))
    return {name: {"s_per_prompt_min": min(times[name]) / prompts,
                   "s_per_prompt_median": float(np.median(times[name])) / prompts,
                   "max_abs_diff_to_definition": float((values[name] - reference).abs().max())} for name in routes}


def auroc_peers(n: int, resamples: int) -> dict:
    from sklearn.metrics import roc_auc_score
    from torchmetrics.functional.classification import binary_auroc as tm_auroc

    from cxrgen_bench.functional.auroc import binary_auroc
    from cxrgen_bench.functional.bootstrap import resample_weights

    rng = np.random.default_rng(0)
    classes = 11
    labels = rng.integers(0, 2, (n, classes)).astype(float)
    scores = np.round(rng.normal(size=(n, classes)) + labels * rng.uniform(0.2, 1.5, classes), 3)  # ties
    weights = resample_weights(n, resamples, 0)
    index = [np.repeat(np.arange(n), w) for w in weights]

    def run(fn):
        def go():
            point = [fn(scores[:, j], labels[:, j]) for j in range(classes)]
            reps = [[fn(scores[i, j], labels[i, j]) for j in range(classes)] for i in index]
            return np.array(point), np.array(reps)
        return go

    routes = {"cxrgen-bench (ranks)": run(binary_auroc),
              "scikit-learn roc_auc_score": run(lambda s, y: roc_auc_score(y, s)),
              "torchmetrics binary_auroc": run(lambda s, y: float(tm_auroc(torch.from_numpy(s),
                                                                           torch.from_numpy(y).long())))}
    out, reference = {}, None
    for name, fn in routes.items():
        t = time.perf_counter()
        point, reps = fn()
        seconds = time.perf_counter() - t
        reference = (point, reps) if reference is None else reference
        out[name] = {"s_point_and_replicates": seconds,
                     "max_abs_diff_to_ours": float(max(np.abs(point - reference[0]).max(),
                                                       np.abs(reps - reference[1]).max()))}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prompts", type=int, default=20)
    p.add_argument("--side", type=int, default=512)
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--resamples", type=int, default=200)
    args = p.parse_args()
    torch.set_num_threads(2)
    result = {"threads": torch.get_num_threads(), "ms_ssim": msssim_peers(args.prompts, args.side),
              "auroc": auroc_peers(args.n, args.resamples)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
