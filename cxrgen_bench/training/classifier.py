"""A multi-label chest X-ray classifier trained from scratch (RoentGen §7, Table 5): DenseNet-121,
AdamW, a cyclic learning rate, early stopping on the validation mean AUROC, the best-validation
model scored on the test set. Every setting comes from `ClassifierSettings` (the profile's block).

Exactly resumable: after every epoch a checkpoint (safetensors + JSON, no pickle; see checkpoint.py)
holds the current and the best model, optimizer, schedule and early-stopping state. The data order of
an epoch depends only on (seed, epoch) and the network has no dropout or random augmentation, so a
run killed anywhere and resumed ends with the weights, and the numbers, of an uninterrupted one.
"""
from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import torch

from ..errors import InputError
from ..functional.auroc import classwise_auroc, macro_average
from ..progress import ProgressFactory, silent
from ..settings import Settings, parse_settings, setting
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint

ARCHITECTURES = ("densenet121", "densenet-tiny")
# The smallest input each network can take: DenseNet-121 halves its input five times (stem, pool, three
# transitions), the tiny one four times, and a side below that fails deep inside the network.
MIN_SIDE = {"densenet121": 32, "densenet-tiny": 16}


@dataclass(frozen=True)
class ClassifierSettings(Settings):
    architecture: Literal["densenet121", "densenet-tiny"] = setting(
        "densenet121", "torchvision's DenseNet-121 (weights=None), one input channel; densenet-tiny: the demo's")
    resolution: int = setting(224, "input side in pixels", minimum=1)
    # batch normalisation cannot train on batches of one
    batch_size: int = setting(32, "training batch size", minimum=2)
    lr: float = setting(1e-3, "AdamW's learning rate (the paper's): the cyclic schedule's peak", minimum=0.0)
    weight_decay: float = setting(1e-5, "AdamW's weight decay", minimum=0.0)
    base_lr: float = setting(1e-4, "the cyclic schedule's floor", minimum=0.0)
    step_size_up_epochs: float = setting(2.0, "half a cycle, in epochs", minimum=0.0)
    cycle_mode: Literal["triangular", "triangular2", "exp_range"] = setting("triangular", "torch's CyclicLR mode")
    patience: int = setting(15, "epochs without a validation-AUROC gain before stopping", minimum=1)
    max_epochs: int = setting(100, "epochs at most", minimum=1)
    threshold: float = setting(0.5, "on the sigmoid, for accuracy", minimum=0.0, maximum=1.0)
    eval_batch_size: int = setting(128, "batch size of prediction (changes no number)", minimum=1)

    @classmethod
    def from_config(cls, cfg: dict[str, Any], where: str) -> "ClassifierSettings":
        settings = parse_settings(cls, cfg, where)
        if settings.resolution < MIN_SIDE[settings.architecture]:
            raise InputError(f"{where}: resolution {settings.resolution} is too small for {settings.architecture} "
                             f"(at least {MIN_SIDE[settings.architecture]} px; --resolution)")
        return settings

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_model(architecture: str, n_classes: int) -> torch.nn.Module:
    """DenseNet-121 as torchvision builds it, with a one-channel stem (radiographs are grayscale; the
    paper trains from scratch, so nothing is lost by not repeating the channel three times).
    "densenet-tiny" (growth 12, blocks 2-2-2) is the quick version the demo trains in seconds."""
    from torchvision.models import DenseNet, densenet121

    if architecture == "densenet121":
        model = densenet121(weights=None, num_classes=n_classes)
    elif architecture == "densenet-tiny":
        model = DenseNet(growth_rate=12, block_config=(2, 2, 2), num_init_features=16, num_classes=n_classes)
    else:
        raise InputError(f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    stem = model.features.conv0
    model.features.conv0 = torch.nn.Conv2d(1, stem.out_channels, stem.kernel_size, stem.stride, stem.padding,
                                           bias=False)
    torch.nn.init.kaiming_normal_(model.features.conv0.weight)  # as torchvision initialises its convolutions
    return model


def to_input(pixels: np.ndarray, device: str) -> torch.Tensor:
    """uint8 (B, R, R) → float (B, 1, R, R), centred: (x/255 − 0.5) / 0.25."""
    x = torch.from_numpy(np.array(pixels, dtype=np.uint8)).to(device=device, dtype=torch.float32)  # a copy: memmaps are read-only
    return ((x / 255.0 - 0.5) / 0.25)[:, None]


@torch.no_grad()
def predict(model: torch.nn.Module, pixels: np.ndarray, settings: ClassifierSettings, device: str) -> np.ndarray:
    """Sigmoid probabilities (N, C), in eval mode (batch-norm running statistics)."""
    model.eval()
    out = []
    for start in range(0, len(pixels), settings.eval_batch_size):
        out.append(torch.sigmoid(model(to_input(pixels[start:start + settings.eval_batch_size], device))).cpu())
    return torch.cat(out).double().numpy()


def scores(probabilities: np.ndarray, labels: np.ndarray, classes: list[str], threshold: float) -> dict[str, Any]:
    """Per-class AUROC and accuracy (at ``threshold``; NaN labels skipped per class), and their means."""
    auroc = classwise_auroc(probabilities, labels, classes)
    accuracy = {}
    for j, c in enumerate(classes):
        known = ~np.isnan(labels[:, j])
        accuracy[c] = float(((probabilities[known, j] >= threshold) == (labels[known, j] == 1)).mean()) \
            if known.any() else None
    return {"auroc": auroc, "mean_auroc": macro_average(auroc), "accuracy": accuracy,
            "mean_accuracy": macro_average(accuracy)}


def _batches(n: int, batch_size: int, seed: int, epoch: int) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    batches = list(order.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:  # batch norm cannot train on one image: it joins the previous
        batches[-2] = torch.cat(batches[-2:])
        batches.pop()
    return batches


def train_classifier(train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
                     classes: list[str], settings: ClassifierSettings, seed: int, folder: Path,
                     device: str = "cpu", progress: ProgressFactory = silent,
                     after_epoch: Callable[[int], None] | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train on ``train`` = (uint8 pixels (N, R, R) — an array, a memory map or `image_cache.Rows` —,
    labels (N, C) in {0, 1, NaN}), select on ``val``; returns the best-validation model and the training
    record. Checkpoints in ``folder`` after every epoch (then calls ``after_epoch(epoch)``) and resumes
    from the latest checkpoint."""
    x, y = train
    if len(x) < 2:
        raise InputError(f"a training set of {len(x)} image(s) cannot train a classifier")
    if torch.device(device).type == "cuda":  # bit-exact resume holds on CPU; on CUDA only with these set
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.manual_seed(seed)
    model = build_model(settings.architecture, len(classes)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps_per_epoch = len(_batches(len(x), settings.batch_size, seed, 0))
    scheduler = torch.optim.lr_scheduler.CyclicLR(
        optimizer, base_lr=settings.base_lr, max_lr=settings.lr, mode=settings.cycle_mode, cycle_momentum=False,
        step_size_up=max(1, round(settings.step_size_up_epochs * steps_per_epoch)))
    state = {"epoch": -1, "best_auroc": None, "best_epoch": None, "since_best": 0, "history": [], "stopped": None}
    best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    resume = latest_checkpoint(folder)
    if resume is not None:
        saved = load_checkpoint(resume)
        model.load_state_dict({k[6:]: v for k, v in saved["trainable"].items() if k.startswith("model.")})
        best = {k[5:]: v for k, v in saved["trainable"].items() if k.startswith("best.")}
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"]["torch"])  # nothing random runs after initialisation today; kept exact anyway
        state = saved["info"]
    y_train = torch.from_numpy(np.nan_to_num(y, nan=0.0)).float()
    mask = torch.from_numpy(~np.isnan(y)).float()  # an unknown label trains nothing for its class
    with progress(settings.max_epochs, f"training ({len(x)} images)", "epochs", initial=state["epoch"] + 1) as bar:
        while state["stopped"] is None:
            epoch = state["epoch"] + 1
            model.train()
            total = 0.0
            for batch in _batches(len(x), settings.batch_size, seed, epoch):
                idx = np.sort(batch.numpy())  # sorted reads from the memory map; the batch's content is the same
                logits = model(to_input(x[idx], device))
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, y_train[idx].to(device), weight=mask[idx].to(device), reduction="sum") \
                    / mask[idx].sum().clamp(min=1)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
                total += float(loss.detach()) * len(idx)
            val_scores = scores(predict(model, val[0], settings, device), val[1], classes, settings.threshold)
            auroc = val_scores["mean_auroc"]
            state["history"].append({"epoch": epoch, "loss": total / len(x), "val_mean_auroc": auroc})
            if auroc is not None and (state["best_auroc"] is None or auroc > state["best_auroc"]):
                state.update(best_auroc=auroc, best_epoch=epoch, since_best=0)
                best = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                state["since_best"] += 1
            state["epoch"] = epoch
            if state["since_best"] >= settings.patience:
                state["stopped"] = "early stopping"
            elif epoch + 1 >= settings.max_epochs:
                state["stopped"] = "max epochs"
            trainable = {**{f"model.{k}": v for k, v in model.state_dict().items()},
                         **{f"best.{k}": v for k, v in best.items()}}
            saved_to = save_checkpoint(folder / f"checkpoint-{epoch}", trainable, optimizer, scheduler,
                                       {"torch": torch.get_rng_state()}, state)
            for old in folder.glob("checkpoint-*"):  # one epoch's state is all a resume needs
                if old != saved_to and old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
            bar.update(1)
            if after_epoch is not None:
                after_epoch(epoch)
    if state["best_epoch"] is None:
        raise InputError("the validation set has no class with both positive and negative labels: no AUROC to "
                         "select a model on")
    model.load_state_dict(best)
    return model, state
