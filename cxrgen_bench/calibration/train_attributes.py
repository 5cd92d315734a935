"""Train the phantom attribute predictor (deterministic, a few minutes on 2 CPU cores) and write its weights.

    python -m cxrgen_bench.calibration.train_attributes [--out cxrgen_bench/calibration/phantom_attributes.safetensors]

The printed sha256 goes into cxrgen_bench/profiles/calibration-phantom.yaml. The loop is `training.py`'s;
this file says what the predictor learns: a phantom's sex and its normalised age.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from . import training
from .attributes import AGE_MEAN, AGE_SCALE, AttributeNet
from .phantom import Findings, random_demographics, random_findings


def draw(rng: np.random.Generator, view: str) -> tuple[Findings, np.ndarray]:
    who = random_demographics(rng)
    findings = replace(random_findings(rng, view=view), **who)
    return findings, np.array([float(who["sex"] == "female"), (who["age"] - AGE_MEAN) / AGE_SCALE], np.float32)


def loss(outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Columns: [sex logit (female), normalised age]."""
    return F.binary_cross_entropy_with_logits(outputs[:, 0], y[:, 0]) + F.mse_loss(outputs[:, 1], y[:, 1])


def report(outputs: torch.Tensor, y: torch.Tensor) -> str:
    sex_accuracy = ((outputs[:, 0] > 0).float() == y[:, 0]).float().mean().item()
    age_mae = ((outputs[:, 1] - y[:, 1]).abs().mean() * AGE_SCALE).item()
    return f"sex accuracy {sex_accuracy:.3f}, age MAE {age_mae:.1f} years"


RECIPE = training.Recipe(script="cxrgen_bench.calibration.train_attributes", weights="phantom_attributes.safetensors",
                         epochs=10, model=AttributeNet, draw=draw, loss=loss, report=report)


def main() -> None:
    training.main(RECIPE)


if __name__ == "__main__":
    main()
