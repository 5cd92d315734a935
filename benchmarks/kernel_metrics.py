"""KID, precision/recall/density/coverage and CMMD at n × n features (default 5,000 × 5,000, d = 2,048)
on this machine, against the reference packages on the same features in the same run: torch-fidelity's
KID (100 subsets of 1,000), the prdc package (k = 5), and CMMD by its definition in one float64 pass.

    python benchmarks/kernel_metrics.py [--n 5000] [--d 2048] [--threads 2]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from timing import timed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--d", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(args.d, args.d)) / np.sqrt(args.d)
    real = np.abs(rng.normal(size=(args.n, args.d)) @ mix)
    fake = np.abs(rng.normal(size=(args.n, args.d)) @ mix * 1.05 + 0.02)

    from cxrgen_bench.functional import cmmd, kid, prdc

    rows = []
    ours_s, ours = timed(lambda: kid(real, fake, subset_size=min(1000, args.n), subsets=100, seed=0))
    from torch_fidelity.metric_kid import kid_features_to_metric

    theirs_s, theirs = timed(lambda: kid_features_to_metric(torch.from_numpy(real), torch.from_numpy(fake),
                                                            kid_subsets=100, kid_subset_size=min(1000, args.n), rng_seed=0,
                                                            verbose=False))
    rows.append(("KID (100 × 1,000)", ours_s, "torch-fidelity", theirs_s, f"{ours[0]:.8f} ± {ours[1]:.8f}",
                 f"{theirs['kernel_inception_distance_mean']:.8f} ± {theirs['kernel_inception_distance_std']:.8f}"))
    ours_s, ours = timed(lambda: prdc(real, fake, k=5))
    from prdc import compute_prdc

    theirs_s, theirs = timed(lambda: compute_prdc(real_features=real, fake_features=fake, nearest_k=5))
    fmt = lambda d: " / ".join(f"{d[k]:.4f}" for k in ("precision", "recall", "density", "coverage"))  # noqa: E731
    rows.append(("PRDC (k = 5)", ours_s, "prdc", theirs_s, fmt(ours), fmt(theirs)))
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    ours_s, ours = timed(lambda: cmmd(unit(real), unit(fake)))
    rows.append(("CMMD (σ = 10, unit vectors)", ours_s, "—", float("nan"), f"{ours:.6f}", ""))
    print(f"{args.n} × {args.n} features, d = {args.d}, {args.threads} threads")
    print("| metric | ours (s) | reference | reference (s) | ours | reference |")
    print("|---|---|---|---|---|---|")
    for name, a, ref, b, va, vb in rows:
        print(f"| {name} | {a:.1f} | {ref} | {'' if np.isnan(b) else f'{b:.1f}'} | {va} | {vb} |")


if __name__ == "__main__":
    main()
