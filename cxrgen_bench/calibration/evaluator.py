"""A small CNN that reads phantom radiographs: per-side outputs for the lateralised findings
(effusion, pneumothorax, consolidation), outputs for cardiomegaly, edema and support devices, and a
128-d feature layer for Fréchet distances. Trained on phantoms by `train_evaluator.py` in this
folder; the weights ship as `phantom_evaluator.safetensors` with their sha256 pinned in the
calibration profile. It exists to calibrate the metrics on known answers: it is not a CXR model."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..models.image.base import Backbone
from ..models.weights import load_strict
from .phantom import CLASS_NAMES, OTHER_OUTPUTS, SIDE_OUTPUTS
from .text_encoders import PhantomFindingsText

INPUT = 128


def conv_body(widths: tuple[int, int, int, int]) -> nn.Sequential:
    """The calibration networks' trunk: four stride-2 conv + batch norm + ReLU blocks (5×5, then 3×3) from one
    grey channel to ``widths[-1]`` channels at 1/16 of the input size (the phantom evaluator and the phantom
    attribute predictor differ only in the widths; the state-dict names are body.<block>.<layer>)."""
    def block(cin: int, cout: int, k: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, k, 2, k // 2), nn.BatchNorm2d(cout), nn.ReLU())

    return nn.Sequential(*(block(cin, cout, 5 if i == 0 else 3)
                           for i, (cin, cout) in enumerate(zip((1, *widths[:-1]), widths))))


class PhantomNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = conv_body((16, 32, 48, 32))
        # 2×2 pooling keeps which half of the image a finding is in (laterality); 32 × 4 = 128 features
        self.pool = nn.AdaptiveAvgPool2d((2, 2))
        self.head = nn.Linear(128, 2 * len(SIDE_OUTPUTS) + len(OTHER_OUTPUTS))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.body(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # logits: [eff L, eff R, ptx L, ptx R, cons L, cons R, cm, edema, dev]


def preprocess(image: np.ndarray) -> np.ndarray:
    small = Image.fromarray(image.astype(np.float32)).resize((INPUT, INPUT), Image.Resampling.BILINEAR)
    return ((np.asarray(small, np.float32) - 0.5) / 0.25)[None]


class PhantomEvaluator(Backbone):
    name = "phantom-evaluator"
    layers = {"features": 128, "classifier": len(CLASS_NAMES), "sides": 2 * len(SIDE_OUTPUTS),
              "findings": 2 * len(SIDE_OUTPUTS) + len(OTHER_OUTPUTS) + 1}
    preprocessings = ("phantom-128",)
    class_names = list(CLASS_NAMES)
    side_findings = SIDE_OUTPUTS
    # An image–text stand-in for the calibration benchmark: images and reports both map to the space
    # of findings by side ("findings": the nine outputs and the probability of none), the text side
    # through `calibration.text_encoders.PhantomFindingsText`.
    shared_layer = "findings"

    def text_tower(self):
        return PhantomFindingsText()

    def build(self, state_dict: dict[str, torch.Tensor], where: str) -> torch.nn.Module:
        model = PhantomNet()
        load_strict(model, state_dict, where)
        return model

    def preprocess(self, image: np.ndarray, preprocessing: str = "phantom-128") -> np.ndarray:
        return preprocess(image)

    def forward(self, batch: torch.Tensor, layer: str) -> torch.Tensor:
        if layer == "features":
            return self.model.features(batch)
        probs = torch.sigmoid(self.model(batch))
        sides = probs[:, : 2 * len(SIDE_OUTPUTS)]
        if layer == "sides":
            return sides
        if layer == "findings":
            return torch.cat([probs, (1 - probs).prod(dim=1, keepdim=True)], dim=1)
        # classifier: a lateralised finding is present if it is on either side
        either = sides.view(-1, len(SIDE_OUTPUTS), 2).max(dim=2).values
        return torch.cat([either, probs[:, 2 * len(SIDE_OUTPUTS):]], dim=1)
