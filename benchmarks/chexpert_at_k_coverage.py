"""Coverage of CheXpert@k's bootstrap CI, measured by simulation.

    python benchmarks/chexpert_at_k_coverage.py [--n 400] [--truth-samples 300] [--trials 200] [--resamples 500]

Two ways to resample a CheXpert@k: keep every report's neighbours fixed and resample only the reports
whose scores are averaged ("fixed"), or recompute the neighbourhoods among the distinct resampled
reports ("pool", what the metric does: `functional.text_knowledge.pool_bootstrap`; a report drawn twice
is not its own neighbour). Population:
single-label reports of 4 classes, each a 32-d embedding = its class direction × strength + unit
noise; the estimand is the expected CheXpert@10 of a set of n reports, estimated from `truth-samples`
independent sets. Each of `trials` further sets gets a point estimate and a 95% CI; coverage is the
share of CIs that contain the estimand. Reported for several strengths (how separable the classes are).
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from cxrgen_bench.functional.bootstrap import percentile_ci, resample_weights
from cxrgen_bench.functional.text_knowledge import pool_bootstrap, scores_from_neighbours, summarise
from cxrgen_bench.functional.topk import nearest_neighbours

CLASSES = 4
DIM = 32


def sample(rng: np.random.Generator, n: int, strength: float, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    label = rng.integers(0, CLASSES, n)
    x = directions[label] * strength + rng.normal(size=(n, DIM))
    return x, np.eye(CLASSES)[label]


def fixed_bootstrap(per_report: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Replicates with neighbourhoods fixed: weighted means of the reports' own scores."""
    positive = (y == 1.0).astype(np.float64)
    scores = np.where(positive > 0, per_report, 0.0)
    return ((weights @ scores) / (weights @ positive)).mean(axis=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--truth-samples", type=int, default=300)
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--resamples", type=int, default=500)
    p.add_argument("--strengths", default="0.5,1.0,2.0")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(CLASSES, DIM))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    names = [str(c) for c in range(CLASSES)]
    listed = 6 * args.k

    def one(strength: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        x, y = sample(rng, args.n, strength, directions)
        neighbours = nearest_neighbours(x, listed, "cosine")
        per_report = scores_from_neighbours(neighbours[:, :args.k], y)
        return neighbours, y, per_report, summarise(per_report, y, args.k, names)["macro"]

    for strength in (float(s) for s in args.strengths.split(",")):
        truth = float(np.mean([one(strength)[3] for _ in range(args.truth_samples)]))
        covered = {"fixed": 0, "pool": 0}
        widths: dict[str, list[float]] = {"fixed": [], "pool": []}
        points = []
        for trial in range(args.trials):
            neighbours, y, per_report, macro = one(strength)
            weights = resample_weights(args.n, args.resamples, trial)
            for method, replicates in (("fixed", fixed_bootstrap(per_report, y, weights)),
                                       ("pool", pool_bootstrap(neighbours, y, args.k, range(CLASSES), weights)[0])):
                lo, hi = percentile_ci(replicates, estimate=macro)
                covered[method] += lo <= truth <= hi
                widths[method].append(hi - lo)
            points.append(macro)
        print(json.dumps({"strength": strength, "estimand": round(truth, 4),
                          "coverage_pool": covered["pool"] / args.trials, "coverage_fixed": covered["fixed"] / args.trials,
                          "ci_width_pool": round(float(np.mean(widths["pool"])), 4),
                          "ci_width_fixed": round(float(np.mean(widths["fixed"])), 4),
                          "sd_of_estimates_x_3.92": round(3.92 * float(np.std(points, ddof=1)), 4),
                          "n": args.n, "trials": args.trials, "resamples": args.resamples}), flush=True)


if __name__ == "__main__":
    main()
