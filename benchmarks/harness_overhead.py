"""Harness overhead on CPU: the tiny SD pipeline called directly vs through `cxrgen-bench generate`
(seeded per-sample latents, PNG encoding, atomic writes, journal fsync, manifest).

    python benchmarks/harness_overhead.py [--prompts 16] [--samples 2] [--steps 10] [--batch-size 8]
"""
from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import torch

import cxrgen_bench
from cxrgen_bench.generation.tiny import save_pipeline


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--resolution", type=int, default=64)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    model = save_pipeline(tmp / "tiny")
    prompts = tmp / "prompts.csv"
    with open(prompts, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["prompt_id", "text"])
        for i in range(args.prompts):
            w.writerow([f"p{i:03d}", f"Small left pleural effusion number {i}."])
    n = args.prompts * args.samples

    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(str(model), safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    texts = [f"Small left pleural effusion number {i}." for i in range(args.prompts) for _ in range(args.samples)]
    pipe(texts[:2], num_inference_steps=2, height=args.resolution, width=args.resolution)  # warm-up
    start = time.perf_counter()
    for s in range(0, n, args.batch_size):
        batch = texts[s:s + args.batch_size]
        pipe(batch, num_inference_steps=args.steps, guidance_scale=4.0, height=args.resolution, width=args.resolution,
             generator=torch.Generator().manual_seed(s), output_type="np")
    direct = n / (time.perf_counter() - start)

    cxrgen_bench.generate(generator="diffusers", model=str(model), prompts=prompts, out=tmp / "warm", steps=2,
                          samples_per_prompt=1, resolution=args.resolution, progress=False)  # warm-up
    start = time.perf_counter()
    cxrgen_bench.generate(generator="diffusers", model=str(model), prompts=prompts, out=tmp / "out",
                          samples_per_prompt=args.samples, steps=args.steps, batch_size=args.batch_size,
                          resolution=args.resolution, progress=False)
    harness = n / (time.perf_counter() - start)
    print(f"{n} images, {args.steps} PNDM steps, {args.resolution}², batch {args.batch_size}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"pipeline called directly : {direct:.2f} images/s")
    print(f"through the harness      : {harness:.2f} images/s  (includes loading the checkpoint)")
    print(f"overhead                 : {100 * (direct / harness - 1):.1f}%")


if __name__ == "__main__":
    main()
