"""Nearest training image at scale: the memorisation study's blocked exact search
(`cxrgen_bench.functional.nearest`, float64 block products, bounded memory) against brute force
(the whole query × reference distance matrix with torch.cdist in float32, then argmin), on random
vectors standing in for 64×64 pixel vectors (d = 4096) and pooled features (d = 2048).

    python benchmarks/nearest_neighbours.py [--sizes 10000,30000,100000] [--dims 2048,4096]
                                            [--queries 256] [--device cpu]

Each (method, n, d) runs in a fresh process, so its peak memory (VmHWM) is its own; "extra" is the
peak minus the resident size once the vectors exist, i.e. what the search itself needs. A quarter
of the queries are copies of training vectors with faint noise (the case memorisation looks for);
"agree" is the share of queries whose nearest index equals the blocked search's.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np


def _rss(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024  # MiB
    return float("nan")


def data(n: int, d: int, queries: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    refs = np.empty((n, d), np.float32)
    for s in range(0, n, 8192):  # in chunks: no float64 temporary of the whole set
        refs[s:s + 8192] = rng.random((min(8192, n - s), d), dtype=np.float32)
    q = rng.random((queries, d), dtype=np.float32)
    copies = rng.choice(n, queries // 4, replace=False)
    q[: len(copies)] = refs[copies] + rng.normal(0, 1e-3, (len(copies), d)).astype(np.float32)
    return q, refs


def one(method: str, n: int, d: int, queries: int, device: str) -> dict:
    import torch

    from cxrgen_bench.functional.nearest import nearest_neighbours

    q, refs = data(n, d, queries)
    base = _rss("VmRSS")
    start = time.perf_counter()
    if method == "blocked":
        idx = nearest_neighbours(q, refs, device=device).indices[:, 0]
    else:  # brute force: the full matrix in float32
        qt, rt = torch.from_numpy(q).to(device), torch.from_numpy(refs).to(device)
        idx = torch.cdist(qt, rt).argmin(1).cpu().numpy()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"method": method, "n": n, "d": d, "queries": queries, "seconds": round(seconds, 3),
            "extra_mib": round(_rss("VmHWM") - base, 1), "indices": idx.tolist()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,30000,100000")
    ap.add_argument("--dims", default="2048,4096")
    ap.add_argument("--queries", type=int, default=256)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--one", nargs=2, metavar=("METHOD", "N_D"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        n, d = (int(x) for x in args.one[1].split("x"))
        print(json.dumps(one(args.one[0], n, d, args.queries, args.device)))
        return
    print("| n (training) | d | queries | blocked exact (float64) | extra memory | brute force torch.cdist (float32) "
          "| extra memory | agree |")
    print("|---|---|---|---|---|---|---|---|")
    for d in (int(x) for x in args.dims.split(",")):
        for n in (int(x) for x in args.sizes.split(",")):
            runs = {}
            for method in ("blocked", "brute"):
                out = subprocess.run([sys.executable, __file__, "--one", method, f"{n}x{d}", "--queries",
                                      str(args.queries), "--device", args.device],
                                     capture_output=True, text=True, check=True)
                runs[method] = json.loads(out.stdout)
            b, f = runs["blocked"], runs["brute"]
            agree = np.mean(np.array(b["indices"]) == np.array(f["indices"]))
            print(f"| {n:,} | {d} | {args.queries} | {b['seconds']:.2f} s | {b['extra_mib']:.0f} MiB | "
                  f"{f['seconds']:.2f} s | {f['extra_mib']:.0f} MiB | {agree:.3f} |", flush=True)


if __name__ == "__main__":
    main()
