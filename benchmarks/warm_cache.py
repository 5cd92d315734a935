"""A second `score` run with a warm cache vs the first (cold) run, same images.

    python benchmarks/warm_cache.py [--prompts 100] [--samples 2]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=100)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--metrics", default="fid[inception-v3-fid],ms_ssim")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:512, 0:512]
    for folder, samples in (("gen", args.samples), ("ref", 1)):
        (tmp / folder).mkdir()
        for i in range(args.prompts):
            base = 128 + 80 * np.sin(xx / (10 + i % 7)) * np.cos(yy / 15)
            for k in range(samples):
                img = base + rng.normal(0, 12, base.shape)
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(tmp / folder / f"p{i:04d}_{k}.png")
    cmd = [sys.executable, "-m", "cxrgen_bench", "score", "--images", str(tmp / "gen"), "--reference", str(tmp / "ref"),
           "--metrics", args.metrics, "--cache-dir", str(tmp / "cache"), "--quiet", "--out", str(tmp / "r.json")]
    times = []
    for run in ("cold", "warm"):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
        print(f"{run}: {times[-1]:.1f} s")
    print(f"{args.prompts} prompts x {args.samples} samples + {args.prompts} reference, 512x512 PNG, "
          f"metrics {args.metrics}: warm run {times[0] / times[1]:.1f}x faster")


if __name__ == "__main__":
    main()
