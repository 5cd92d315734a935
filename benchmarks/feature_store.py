"""The feature cache's per-item rows: one .npy file per row (the cache before rowstore.py, written as it
wrote them: np.save, fsync, rename) against the SQLite store (rowstore.py) and LMDB (if installed), at
100,000 rows of 2,048 float32 (Inception pool3). Write rate in batches of 32 (as scoring stores them),
read rate in chunks of 4,096 in a shuffled order (as statistics stream them), files created, disk used.

    python benchmarks/feature_store.py [--rows 100000] [--dim 2048] [--only sqlite,files,lmdb]
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from cxrgen_bench.files import atomic_write_bytes
from cxrgen_bench.rowstore import RowStore

BATCH, CHUNK = 32, 4096


def disk(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(os.stat(p).st_blocks * 512 for p in files)


def keys(n: int) -> list[str]:
    return [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]


def rows(n: int, dim: int):
    rng = np.random.default_rng(0)
    for start in range(0, n, BATCH):
        yield [rng.standard_normal(dim).astype(np.float32) for _ in range(min(BATCH, n - start))]


class Files:
    """The cache's old layout: folder/sha[:2]/sha.npy, each written atomically (temp file, fsync, rename)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def put(self, pairs):
        for sha, row in pairs:
            buf = io.BytesIO()
            np.save(buf, row, allow_pickle=False)
            atomic_write_bytes(self.folder / sha[:2] / f"{sha}.npy", buf.getvalue())

    def get(self, items):
        return [np.load(self.folder / s[:2] / f"{s}.npy", allow_pickle=False) for s in items]


class Lmdb:
    def __init__(self, folder: Path):
        import lmdb

        self.env = lmdb.open(str(folder), map_size=1 << 36, subdir=True)

    def put(self, pairs):
        with self.env.begin(write=True) as txn:
            for sha, row in pairs:
                txn.put(sha.encode(), row.tobytes())

    def get(self, items):
        with self.env.begin() as txn:
            return [np.frombuffer(txn.get(s.encode()), np.float32) for s in items]


def measure(name: str, store, folder: Path, n: int, dim: int) -> dict:
    items = keys(n)
    start = time.perf_counter()
    done = 0
    for batch in rows(n, dim):
        store.put(list(zip(items[done:done + len(batch)], batch)))
        done += len(batch)
    write = time.perf_counter() - start
    order = list(items)
    np.random.default_rng(1).shuffle(order)
    os.sync()
    start = time.perf_counter()
    for s in range(0, n, CHUNK):
        got = store.get(order[s:s + CHUNK])
        assert all(r is not None and r.shape == (dim,) for r in got)
    read = time.perf_counter() - start
    files, used = disk(folder)
    return {"store": name, "rows": n, "write_rows_per_s": round(n / write), "read_rows_per_s": round(n / read),
            "files": files, "disk_mb": round(used / 1e6), "payload_mb": round(n * dim * 4 / 1e6)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--only", default="sqlite,files,lmdb")
    ap.add_argument("--dir", help="where to write (default: a temporary folder)")
    ap.add_argument("--out", help="JSON of the figures")
    args = ap.parse_args()
    base = Path(args.dir or tempfile.mkdtemp())
    results = []
    for name in args.only.split(","):
        folder = base / name
        folder.mkdir(parents=True, exist_ok=True)
        if name == "sqlite":
            store = RowStore(folder)
            wrapped = type("S", (), {"put": lambda self, p: store.put(p), "get": lambda self, i: store.get(i)})()
        elif name == "files":
            wrapped = Files(folder)
        else:
            try:
                wrapped = Lmdb(folder)
            except ImportError:
                print("lmdb is not installed (pip install lmdb): skipped")
                continue
        results.append(measure(name, wrapped, folder, args.rows, args.dim))
        print(json.dumps(results[-1]))
        shutil.rmtree(folder)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
