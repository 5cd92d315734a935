"""The one training loop of the small calibration networks whose weights ship in the package (the phantom
evaluator, the phantom attribute predictor). A network is described by a `Recipe` (its model, what it learns
from a phantom, its loss and its validation line); the phantoms, the optimiser, the batch order and the
weights file are this module's. Everything is seeded and torch runs deterministic algorithms, so the same
command writes the same tensors and the sha256 pinned in the calibration profile can be checked by
re-running it.
"""
from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageFilter
from safetensors.torch import save_file

from .evaluator import preprocess
from .phantom import Findings, render

HERE = Path(__file__).parent
BATCH = 64
LEARNING_RATE, WEIGHT_DECAY = 3e-3, 1e-4
VALIDATION_IMAGES = 500

Tensors = tuple[torch.Tensor, torch.Tensor]
Draw = Callable[[np.random.Generator, str], tuple[Findings, np.ndarray]]  # (rng, view) → findings, target
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (outputs, targets) of a batch


@dataclass(frozen=True)
class Recipe:
    """What differs between the calibration networks."""

    script: str  # the module whose `main` trains it: the weights' metadata names the command
    weights: str  # the shipped file, beside this module
    epochs: int
    model: Callable[[], torch.nn.Module]
    draw: Draw
    loss: Loss
    report: Callable[[torch.Tensor, torch.Tensor], str]  # (outputs, targets) of the validation set


def main(recipe: Recipe) -> None:
    args = parse_args(recipe)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    start = time.perf_counter()
    train = phantom_dataset(recipe.draw, args.train, args.seed, augment=True)
    validation = phantom_dataset(recipe.draw, VALIDATION_IMAGES, args.seed + 1, augment=False)
    model = recipe.model()
    fit(model, recipe, train, validation, args.epochs, args.seed)
    write_weights(model, recipe, args, start)


def parse_args(recipe: Recipe) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog=f"python -m {recipe.script}",
                                 description=f"Train {recipe.weights} on phantoms and write its weights.")
    ap.add_argument("--out", default=str(HERE / recipe.weights),
                    help="weights file to write (default: the shipped one, beside this module)")
    ap.add_argument("--train", type=int, default=4000, help="training phantoms (default: 4000)")
    ap.add_argument("--epochs", type=int, default=recipe.epochs, help=f"epochs (default: {recipe.epochs})")
    ap.add_argument("--seed", type=int, default=0, help="seed of the phantoms, the initial weights and the batch order")
    return ap.parse_args()


def phantom_dataset(draw: Draw, n: int, seed: int, augment: bool) -> Tensors:
    """`n` phantoms (a fifth of them AP) as preprocessed images and their targets, all drawn from `seed`."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n):
        view = "AP" if rng.random() < 0.2 else "PA"
        findings, target = draw(rng, view)
        image = render(findings, int(rng.integers(2**31)), size=256)
        if augment and rng.random() < 0.3:  # generated images are often degraded; their labels still hold
            image = blur_and_noise(image, rng)
        xs.append(preprocess(image))
        ys.append(target)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def blur_and_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    blurred = Image.fromarray(np.uint8(image * 255)).filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.5)))
    return np.clip(np.asarray(blurred, np.float32) / 255 + rng.normal(0, rng.uniform(0, 0.05), image.shape), 0, 1)


def fit(model: torch.nn.Module, recipe: Recipe, train: Tensors, validation: Tensors, epochs: int, seed: int) -> None:
    """AdamW under a one-cycle schedule, batches of 64 in an order drawn from `seed`; one validation line per epoch."""
    x, y = train
    optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=LEARNING_RATE,
                                                   total_steps=epochs * (len(x) // BATCH))
    order = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        loss = train_epoch(model, recipe.loss, x, y, torch.randperm(len(x), generator=order), optimiser, schedule)
        model.eval()
        with torch.no_grad():
            outputs = model(validation[0])
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}; validation {recipe.report(outputs, validation[1])}")


def train_epoch(model: torch.nn.Module, loss_fn: Loss, x: torch.Tensor, y: torch.Tensor, order: torch.Tensor,
                optimiser: torch.optim.Optimizer, schedule: torch.optim.lr_scheduler.LRScheduler) -> torch.Tensor:
    """Full batches only (the schedule counts them); returns the last batch's loss."""
    for start in range(0, len(x) - BATCH + 1, BATCH):
        idx = order[start:start + BATCH]
        optimiser.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        optimiser.step()
        schedule.step()
    return loss


def write_weights(model: torch.nn.Module, recipe: Recipe, args: argparse.Namespace, start: float) -> None:
    """The state dict as safetensors; its sha256 is printed for the calibration profile."""
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, args.out,
              metadata={"trained_by": f"python -m {recipe.script}", "seed": str(args.seed),
                        "train_images": str(args.train), "epochs": str(args.epochs)})
    out = Path(args.out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB) sha256 {digest} in {time.perf_counter() - start:.0f} s")
