"""Train the phantom evaluator (deterministic, about a minute on 2 CPU cores) and write its weights.

    python -m cxrgen_bench.calibration.train_evaluator [--out cxrgen_bench/calibration/phantom_evaluator.safetensors]

The printed sha256 goes into cxrgen_bench/profiles/calibration-phantom.yaml. The loop is `training.py`'s;
this file says what the evaluator learns: the nine findings outputs of `phantom.targets`.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import training
from .evaluator import PhantomNet
from .phantom import Findings, random_findings, targets


def draw(rng: np.random.Generator, view: str) -> tuple[Findings, np.ndarray]:
    findings = random_findings(rng, view=view)
    return findings, targets(findings)


def report(outputs: torch.Tensor, y: torch.Tensor) -> str:
    accuracy = ((outputs > 0).float() == y).float().mean(0)
    return "accuracy per output " + " ".join(f"{a:.2f}" for a in accuracy.tolist())


RECIPE = training.Recipe(script="cxrgen_bench.calibration.train_evaluator", weights="phantom_evaluator.safetensors",
                         epochs=8, model=PhantomNet, draw=draw, loss=F.binary_cross_entropy_with_logits,
                         report=report)


def main() -> None:
    training.main(RECIPE)


if __name__ == "__main__":
    main()
