"""Retrieval at scale: 20,000 queries × 400,000 candidates × 512-d with the blocked exact top-k, and a
naive full-matrix reference where it fits, in one run.

    python benchmarks/retrieval_scale.py [--sizes 2000x40000,20000x400000] [--naive-up-to 2000x40000]

Each size runs in a fresh process (its peak RSS, ru_maxrss, is its own): random 512-d embeddings with
1 % duplicated candidates, 8 labels, Precision@5/10/50 by cosine. The naive route forms the whole
queries × candidates matrix and argsorts every row (stable: ties to the earlier candidate); where it
runs, both must give the same numbers.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

LABELS = [f"class-{i}" for i in range(8)]


def data(nq: int, nc: int, d: int):
    rng = np.random.default_rng(0)
    q = rng.normal(size=(nq, d)).astype(np.float32)
    c = rng.normal(size=(nc, d)).astype(np.float32)
    dup = rng.integers(0, nc, nc // 100)
    c[dup] = c[rng.integers(0, nc, len(dup))]
    return q, c, list(rng.choice(LABELS, nq)), list(rng.choice(LABELS, nc))


def naive(q, c, ql, cl, ks):
    from cxrgen_bench.functional.retrieval import precision_from_ranking

    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    cn = c / np.linalg.norm(c, axis=1, keepdims=True)
    sims = qn @ cn.T
    ranking = np.argsort(-sims, axis=1, kind="stable")[:, :max(ks)]
    return precision_from_ranking(ranking, ql, cl, ks)


def one(route: str, nq: int, nc: int, d: int) -> dict:
    import torch

    torch.set_num_threads(2)
    from cxrgen_bench.functional import precision_at_k

    q, c, ql, cl = data(nq, nc, d)
    start = time.perf_counter()
    result = naive(q, c, ql, cl, (5, 10, 50)) if route == "naive" else precision_at_k(q, c, ql, cl)
    return {"route": route, "queries": nq, "candidates": nc, "seconds": round(time.perf_counter() - start, 2),
            "precision@5": result["precision@5"], "precision@50": result["precision@50"],
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            "embeddings_gib": round((q.nbytes + c.nbytes) / 2**30, 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="2000x40000,20000x400000")
    p.add_argument("--naive-up-to", default="2000x40000")
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--one", nargs=3, metavar=("ROUTE", "NQ", "NC"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), int(args.one[2]), args.d)))
        return
    limit = [int(v) for v in args.naive_up_to.split("x")]
    rows = []
    for size in args.sizes.split(","):
        nq, nc = (int(v) for v in size.split("x"))
        for route in ("cxrgen-bench", "naive") if nq * nc <= limit[0] * limit[1] else ("cxrgen-bench",):
            done = subprocess.run([sys.executable, __file__, "--one", route, str(nq), str(nc), "--d", str(args.d)],
                                  capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    by = {(r["route"], r["queries"], r["candidates"]): r for r in rows}
    for (route, nq, nc), r in by.items():
        if route == "naive":
            ours = by[("cxrgen-bench", nq, nc)]
            assert (ours["precision@5"], ours["precision@50"]) == (r["precision@5"], r["precision@50"])


if __name__ == "__main__":
    main()
