"""The phantom attribute predictor: a small CNN that reads a phantom's sex and age from the body outline,
the breast shadows and the bone density (`phantom.render`), trained on phantoms by `train_attributes.py`
and shipped as `phantom_attributes.safetensors` (sha256 pinned in the calibration profile). It stands in,
on the calibration benchmark, for the real predictors RoentGen-v2 checks generated images with (a sex
classifier, torchxrayvision's Riken age and Emory HITI race models: `models/image/attributes.py`), so that
demographic adherence has a known answer. It is not a CXR model."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..models.image.attributes import AttributePredictor
from ..models.weights import load_strict
from .evaluator import conv_body, preprocess

AGE_MEAN, AGE_SCALE = 55.0, 20.0  # the age head predicts (age − 55) / 20


class AttributeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = conv_body((16, 32, 32, 32))
        self.pool = nn.AdaptiveAvgPool2d((2, 2))
        self.head = nn.Linear(128, 2)  # [sex logit (female), normalised age]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.body(x)).flatten(1))


class PhantomAttributes(AttributePredictor):
    name = "phantom-attributes"
    layers = {"sex": 1, "age": 1}
    preprocessings = ("phantom-128",)
    predicts = {"sex": "sex", "age": "age"}

    def build(self, state_dict: dict[str, torch.Tensor], where: str) -> torch.nn.Module:
        model = AttributeNet()
        load_strict(model, state_dict, where)
        return model

    def preprocess(self, image: np.ndarray, preprocessing: str = "phantom-128") -> np.ndarray:
        return preprocess(image)

    def forward(self, batch: torch.Tensor, layer: str) -> torch.Tensor:
        out = self.model(batch)
        if layer == "sex":  # P(female)
            return torch.sigmoid(out[:, :1])
        return out[:, 1:] * AGE_SCALE + AGE_MEAN
