"""A third-party study: logistic regressions trained by SGD with momentum on fixed synthetic data, one
unit per seed, checkpointed every epoch — enough to test that a killed study resumes to the numbers
of an uninterrupted one."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cxrgen_bench.metrics import Card
from cxrgen_bench.studies import Study, StudyMetric, Unit
from cxrgen_bench.training import latest_checkpoint, load_checkpoint, save_checkpoint

CRASH_AT: tuple[str, int] | None = None  # (unit id, epoch): raise there, as a kill would stop the run


class ToyAccuracy(StudyMetric):
    study = "toy-logistic"
    card = Card(name="toy_accuracy", direction="higher", value_range=(0.0, 1.0), label="Toy accuracy",
                summary="Test accuracy of the toy study's logistic regressions (mean over seeds).",
                requires=("training_budget",), section="augmentation", order=90)


def data(n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(123)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0, 1.5]) + rng.normal(0, 1.0, n) > 0).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(y)


class ToyLogistic(Study):
    name = "toy-logistic"
    help = "logistic regressions on synthetic data (a test plug-in)"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--epochs", type=int, default=4)
        parser.add_argument("--seeds", default="0,1")

    @classmethod
    def settings_from_args(cls, args: argparse.Namespace) -> dict[str, Any]:
        return {"epochs": args.epochs, "seeds": [int(s) for s in args.seeds.split(",")]}

    def units(self) -> list[Unit]:
        return [Unit(f"seed{s}", s, {"epochs": self.settings["epochs"]}) for s in self.settings["seeds"]]

    def run_unit(self, unit: Unit, folder: Path) -> dict[str, Any]:
        x, y = data()
        train, test = slice(0, 192), slice(192, None)
        torch.manual_seed(unit.seed)
        model = torch.nn.Linear(5, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        start = 0
        resume = latest_checkpoint(folder)
        if resume is not None:
            state = load_checkpoint(resume)
            model.load_state_dict(state["trainable"])
            optimizer.load_state_dict(state["optimizer"])
            start = state["info"]["epoch"] + 1
        for epoch in range(start, unit.settings["epochs"]):
            order = torch.randperm(192, generator=torch.Generator().manual_seed(unit.seed * 1000 + epoch))
            for batch in order.split(32):
                loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[train][batch])[:, 0], y[train][batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            save_checkpoint(folder / f"checkpoint-{epoch}", dict(model.state_dict()), optimizer, None,
                            {"torch": torch.get_rng_state()}, {"epoch": epoch})
            if CRASH_AT == (unit.id, epoch):
                raise RuntimeError(f"killed in {unit.id} after epoch {epoch}")
        with torch.no_grad():
            accuracy = float(((model(x[test])[:, 0] > 0).float() == y[test]).float().mean())
        return {"accuracy": accuracy, "weights": model.weight.detach()[0].tolist()}

    def summarise(self, outputs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        accuracies = np.array([o["accuracy"] for o in outputs.values()])
        return [self.entry("toy_accuracy", "toy_accuracy", float(accuracies.mean()), len(outputs), len(outputs),
                           {"per_unit": {k: o["accuracy"] for k, o in outputs.items()}},
                           std=float(accuracies.std(ddof=1)) if len(accuracies) > 1 else None)]
