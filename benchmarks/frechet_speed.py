"""Fréchet distance at d = 2048: our eigenvalue route vs the scipy `sqrtm` route of pytorch-fid, in
one run: from two covariances (no cache), and per candidate with the reference's square root cached
(one reference, many candidates: what `fid` does, the root kept with the reference statistics).

    python benchmarks/frechet_speed.py [--n 5000] [--d 2048] [--repeats 3]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.linalg
import torch

from cxrgen_bench.functional import frechet_distance
from cxrgen_bench.functional.frechet import ReferenceRoot, frechet_to_root


def scipy_sqrtm_route(mu1, s1, mu2, s2):
    """pytorch-fid's calculate_frechet_distance, written from its definition."""
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * 1e-6
        covmean = scipy.linalg.sqrtm((s1 + offset).dot(s2 + offset))
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def best_of(fn, repeats):
    times, value = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return min(times), value


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--d", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    # realistic spectra: features are correlated, like pool3 activations
    mix = rng.normal(size=(args.d, args.d)) / np.sqrt(args.d)
    x = np.abs(rng.normal(size=(args.n, args.d)) @ mix)
    y = np.abs(rng.normal(size=(args.n, args.d)) @ mix * 1.1 + 0.05)
    stats = (x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    t_ours, v_ours = best_of(lambda: frechet_distance(*stats), args.repeats)
    t_root, root = best_of(lambda: ReferenceRoot.from_moments(stats[2], stats[3], args.n), args.repeats)
    t_cand, v_cand = best_of(lambda: frechet_to_root(stats[0], stats[1], root, args.n).value, args.repeats)
    t_ref, v_ref = best_of(lambda: scipy_sqrtm_route(*stats), args.repeats)
    print(f"d={args.d} n={args.n}  (best of {args.repeats}, {torch.get_num_threads()} threads)")
    print(f"scipy sqrtm (pytorch-fid route):               {t_ref:.3f} s  value {v_ref:.10f}")
    print(f"cxrgen-bench, two covariances (no cache):      {t_ours:.3f} s  value {v_ours:.10f}  "
          f"{t_ref / t_ours:.1f}x")
    print(f"cxrgen-bench, per candidate (root cached):     {t_cand:.3f} s  value {v_cand:.10f}  "
          f"{t_ref / t_cand:.1f}x   (the root itself, once per reference: {t_root:.3f} s)")
    print(f"relative difference to sqrtm {abs(v_cand - v_ref) / abs(v_ref):.2e}")


if __name__ == "__main__":
    main()
