"""Peak memory of a set's Fréchet statistics: streamed from the feature store (`features.stream_rows`, as
`image_stats` does) against the whole feature matrix in memory (as the cache did before), at N rows of
2,048 float32. Each case runs in its own process; its peak RSS is read from getrusage.

And KID (100 subsets of 1,000) on the set against itself, from the memory-mapped matrix scoring now hands a
metric of a large set (`features.feature_matrix`) against the whole matrix in memory in float64 (as before):
the peak of what the process allocated (tracemalloc, which sees numpy's buffers) while building the matrix
and computing KID, beside the peak RSS (which also counts the mapped file's pages the kernel may drop).

    python benchmarks/feature_memory.py [--rows 20000,200000] [--cases streamed,in-memory,kid-mapped,kid-in-memory]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DIM = 2048


@dataclass(frozen=True)
class Record:
    sha256: str
    path: str


@dataclass(frozen=True)
class FakeExtractor:
    key: str = "k" * 64
    shape: tuple = (DIM,)


def fill(root: Path, n: int) -> None:
    from cxrgen_bench.cache import Cache

    cache, rng = Cache(root), np.random.default_rng(0)
    for start in range(0, n, 4096):
        m = min(4096, n - start)
        block = rng.standard_normal((m, DIM)).astype(np.float32)
        cache.put_rows("features", FakeExtractor.key, [(_sha(start + i), block[i]) for i in range(m)])


def _sha(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def case(root: Path, n: int, how: str) -> None:
    from cxrgen_bench.cache import Cache
    from cxrgen_bench.evaluation.features import stream_rows
    from cxrgen_bench.functional.frechet import FeatureStats

    cache = Cache(root)
    records = [Record(_sha(i), f"image-{i}") for i in range(n)]
    if how.startswith("kid"):
        kid_case(cache, records, how)
        return
    if how == "streamed":
        stats = FeatureStats.empty(DIM)
        for chunk in stream_rows(records, FakeExtractor(), cache):
            stats.update(chunk)
    else:
        rows = cache.get_rows("features", FakeExtractor.key, [r.sha256 for r in records], (DIM,))
        stats = FeatureStats.from_features(np.stack(rows))
    assert stats.n == n
    print(json.dumps({"rows": n, "how": how, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


def kid_case(cache, records: list, how: str) -> None:
    import time
    import tracemalloc

    from cxrgen_bench.evaluation.features import feature_matrix
    from cxrgen_bench.functional.kernel_distances import kid_subsets

    tracemalloc.start()
    start = time.perf_counter()
    if how == "kid-mapped":
        x = feature_matrix(records, FakeExtractor(), cache)
    else:
        x = np.stack(cache.get_rows("features", FakeExtractor.key, [r.sha256 for r in records], (DIM,)))
        x = x.astype(np.float64)  # what KID's input check did before
    values, _ = kid_subsets(x, x, 1000, 100, 0)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    print(json.dumps({"rows": len(records), "how": how, "kid": float(values.mean()), "seconds": round(seconds, 1),
                      "peak_allocated_mb": round(peak / 2**20),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="20000,200000")
    ap.add_argument("--cases", default="streamed,in-memory,kid-mapped,kid-in-memory")
    ap.add_argument("--case", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        case(Path(args.case[0]), int(args.case[1]), args.case[2])
        return
    for n in (int(x) for x in args.rows.split(",")):
        root = Path(tempfile.mkdtemp())
        fill(root, n)
        for how in args.cases.split(","):
            subprocess.run([sys.executable, __file__, "--case", str(root), str(n), how], check=True)


if __name__ == "__main__":
    main()
