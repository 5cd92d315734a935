"""CheXpert@k at MIMIC scale: the blocked exact top-k against a naive full-matrix `argsort`, in one run.

    python benchmarks/chexpert_at_k_scale.py [--sizes 5000,10000,100000] [--naive-up-to 10000] [--d 768]

Each size runs in a fresh process (so its peak memory, ru_maxrss, is its own): random 768-d embeddings
with 1 % duplicated rows, 14 classes at 10 % prevalence, k = 10, cosine similarity. The naive reference
forms the n × n similarity matrix and argsorts every row (stable, so ties go to the earlier report);
where it runs, both must give the same CheXpert@k.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def data(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d)).astype(np.float32)
    dup = rng.integers(0, n, n // 100)
    x[dup] = x[rng.integers(0, n, len(dup))]  # duplicated reports: exact ties
    labels = (rng.random((n, 14)) < 0.1).astype(np.float64)
    return x, labels


def naive(x: np.ndarray, labels: np.ndarray, k: int) -> float:
    from cxrgen_bench.functional.text_knowledge import scores_from_neighbours, summarise

    unit = x.astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    sims = (unit @ unit.T).astype(np.float32)
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return summarise(scores_from_neighbours(order, labels), labels, k, [str(c) for c in range(14)])["macro"]


def one(route: str, n: int, d: int, k: int) -> dict:
    import torch

    torch.set_num_threads(2)
    from cxrgen_bench.functional import chexpert_at_k

    x, labels = data(n, d)
    start = time.perf_counter()
    macro = naive(x, labels, k) if route == "naive" else chexpert_at_k(x, labels, k=k, similarity="cosine")["macro"]
    return {"route": route, "n": n, "seconds": round(time.perf_counter() - start, 2), "macro": macro,
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            "embeddings_gib": round(x.nbytes / 2**30, 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="5000,10000,100000")
    p.add_argument("--naive-up-to", type=int, default=10000)
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--one", nargs=2, metavar=("ROUTE", "N"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), args.d, args.k)))
        return
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        for route in ("cxrgen-bench", "naive") if n <= args.naive_up_to else ("cxrgen-bench",):
            done = subprocess.run([sys.executable, __file__, "--one", route, str(n), "--d", str(args.d), "--k",
                                   str(args.k)], capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    by = {(r["route"], r["n"]): r for r in rows}
    for (route, n), r in by.items():
        if route == "naive":
            ours = by[("cxrgen-bench", n)]
            assert ours["macro"] == r["macro"], (ours["macro"], r["macro"])  # same neighbours, same number


if __name__ == "__main__":
    main()
