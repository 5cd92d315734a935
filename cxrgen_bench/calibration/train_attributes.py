"""Train the phantom attribute predictor (deterministic, a few minutes on 2 CPU cores) and write its weights.

    python -m cxrgen_bench.calibration.train_attributes [--out cxrgen_bench/calibration/phantom_attributes.safetensors]

The printed sha256 goes into cxrgen_bench/profiles/calibration-phantom.yaml.
"""
from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

from .attributes import AGE_MEAN, AGE_SCALE, AttributeNet
from .evaluator import preprocess
from .phantom import random_demographics, random_findings, render

HERE = Path(__file__).parent


def dataset(n: int, seed: int, augment: bool) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n):
        view = "AP" if rng.random() < 0.2 else "PA"
        who = random_demographics(rng)
        f = replace(random_findings(rng, view=view), **who)
        image = render(f, int(rng.integers(2**31)), size=256)
        if augment and rng.random() < 0.3:  # blurred and noisy images keep their sex and age
            blurred = Image.fromarray(np.uint8(image * 255)).filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.5)))
            image = np.clip(np.asarray(blurred, np.float32) / 255 + rng.normal(0, rng.uniform(0, 0.05), image.shape), 0, 1)
        xs.append(preprocess(image))
        ys.append([float(who["sex"] == "female"), (who["age"] - AGE_MEAN) / AGE_SCALE])
    return torch.from_numpy(np.stack(xs)), torch.tensor(ys, dtype=torch.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(HERE / "phantom_attributes.safetensors"))
    ap.add_argument("--train", type=int, default=4000)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    start = time.perf_counter()
    x, y = dataset(args.train, args.seed, augment=True)
    xv, yv = dataset(500, args.seed + 1, augment=False)
    model = AttributeNet()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=args.epochs * (len(x) // 64))
    bce, mse = torch.nn.BCEWithLogitsLoss(), torch.nn.MSELoss()
    g = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x), generator=g)
        for s in range(0, len(x) - 63, 64):
            idx = order[s:s + 64]
            opt.zero_grad()
            out = model(x[idx])
            loss = bce(out[:, 0], y[idx, 0]) + mse(out[:, 1], y[idx, 1])
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            out = model(xv)
        sex_acc = ((out[:, 0] > 0).float() == yv[:, 0]).float().mean().item()
        age_mae = ((out[:, 1] - yv[:, 1]).abs().mean() * AGE_SCALE).item()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}; validation sex accuracy {sex_acc:.3f}, age MAE {age_mae:.1f} years")
    from safetensors.torch import save_file

    model.eval()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, args.out,
              metadata={"trained_by": "python -m cxrgen_bench.calibration.train_attributes", "seed": str(args.seed),
                        "train_images": str(args.train), "epochs": str(args.epochs)})
    digest = hashlib.sha256(Path(args.out).read_bytes()).hexdigest()
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1024:.0f} KiB) sha256 {digest} "
          f"in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
