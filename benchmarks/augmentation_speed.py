"""The augmentation study's input and training speed on this machine (issue 14):

1. input: a batch read from the decode-once uint8 memory map vs decoding and resizing the same PNGs
   again (what a loader without the cache does every epoch);
2. training throughput (images/s, and epochs/s for a given set size) of DenseNet-121 at 224² (the
   roentgen2022 profile) and of the quick DenseNet at 48²/64² (the demo / calibration profile);
3. the paper-scale grid (RoentGen Table 5: 8 mixes × 3 seeds) in image-epochs, and its time at a
   given GPU throughput (an assumption stated on the command line, not a measurement).

    python benchmarks/augmentation_speed.py --images 256 --threads 2
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs-per-run", type=float, default=40.0, help="mean epochs per run (early stopping)")
    ap.add_argument("--gpu-images-per-s", type=float, default=1500.0,
                    help="assumed DenseNet-121 224² training throughput of one GPU (not measured here)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from cxrgen_bench.calibration.dataset import PhantomDataset
    from cxrgen_bench.training.classifier import build_model, to_input
    from cxrgen_bench.training.image_cache import build_cache, to_training_pixels

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        table = PhantomDataset(root).prompts(limit=args.images, seed=0, size=512)
        items = [(r["prompt_id"], root / r["image_path"]) for r in table.rows]
        t = time.perf_counter()
        cache = build_cache(root / "cache", "bench", items, 224)
        build_s = time.perf_counter() - t
        batch = np.arange(min(args.batch, len(items)))
        t = time.perf_counter()
        for _ in range(5):
            np.array(cache.pixels[batch])
        cached = (time.perf_counter() - t) / 5
        t = time.perf_counter()
        for i in batch:
            to_training_pixels(items[i][1], 224)
        decoded = time.perf_counter() - t
        print(f"input, {len(batch)} images of 512² PNG → 224²: cache build {build_s:.2f} s for {len(items)} images "
              f"(once); per batch: memory map {cached * 1e3:.2f} ms vs decode+resize {decoded * 1e3:.0f} ms "
              f"({decoded / cached:.0f}×)")

    for arch, res in (("densenet121", 224), ("densenet-tiny", 64), ("densenet-tiny", 48)):
        model = build_model(arch, 6)
        opt = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=1e-5)
        x = np.random.default_rng(0).integers(0, 256, (args.batch, res, res), dtype=np.uint8)
        y = torch.rand(args.batch, 6).round()
        steps, t = 0, time.perf_counter()
        while time.perf_counter() - t < (20 if arch == "densenet121" else 5) or steps < 2:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(to_input(x, "cpu")), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
        rate = steps * args.batch / (time.perf_counter() - t)
        print(f"training {arch} at {res}², batch {args.batch}, {args.threads} threads: {rate:.1f} images/s "
              f"= {rate / 1100:.3f} epochs/s on 1.1k images")

    plan = [(1100, 0), (0, 1100), (1100, 1100), (0, 5500), (1100, 5500), (30000, 0), (0, 30000), (30000, 30000)]
    image_epochs = 3 * sum(r + s for r, s in plan) * args.epochs_per_run
    print(f"paper-scale grid (Table 5, 3 seeds, {args.epochs_per_run:g} epochs per run on average): "
          f"{image_epochs / 1e6:.1f} M image-epochs; at an assumed {args.gpu_images_per_s:g} images/s on one GPU: "
          f"{image_epochs / args.gpu_images_per_s / 3600:.1f} h")


if __name__ == "__main__":
    main()
