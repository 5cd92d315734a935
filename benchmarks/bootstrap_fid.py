"""Bootstrap of the Fréchet distance: 1,000 prompt-level resamples over 5,000 × 2,048 features (the
paper's p19 scale), from cached features — no network runs — with the reference statistics fixed.

    python benchmarks/bootstrap_fid.py [--n 5000] [--d 2048] [--resamples 1000] [--device cuda]

With --device cuda the same float64 replicates run on the GPU, and a CPU run of the first
--check resamples shows both give the same values.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from cxrgen_bench.functional import FeatureStats, frechet_distance_from_stats
from cxrgen_bench.functional.bootstrap import percentile_ci, resample_weights
from cxrgen_bench.functional.frechet import frechet_replicates


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--d", type=int, default=2048)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--check", type=int, default=5, help="with --device cuda: resamples re-run on the CPU")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(args.d, args.d)) / np.sqrt(args.d)
    generated = np.abs(rng.normal(size=(args.n, args.d)) @ mix)
    reference = FeatureStats.from_features(np.abs(rng.normal(size=(args.n, args.d)) @ mix * 1.05 + 0.02))
    point = frechet_distance_from_stats(FeatureStats.from_features(generated), reference).value
    weights = resample_weights(args.n, args.resamples, seed=0)
    start = time.perf_counter()
    values = frechet_replicates(generated, reference, device=args.device)(weights)
    seconds = time.perf_counter() - start
    if args.device != "cpu" and args.check:
        cpu = frechet_replicates(generated, reference)(weights[:args.check])
        print(f"{args.device} vs cpu on {args.check} resamples: max relative difference "
              f"{float(np.max(np.abs(values[:args.check] - cpu) / np.abs(cpu))):.2e}")
    raw = percentile_ci(values)
    lo, hi = percentile_ci(values, estimate=point)
    print(f"{args.device}: n={args.n} d={args.d} resamples={args.resamples}: {seconds:.1f} s "
          f"({1000 * seconds / args.resamples:.0f} ms per resample); FID {point:.3f}, 95% CI [{lo:.3f}, {hi:.3f}] "
          f"(raw percentile [{raw[0]:.3f}, {raw[1]:.3f}]: replicate bias {values.mean() - point:+.3f})")


if __name__ == "__main__":
    main()
