"""torchxrayvision DenseNet-121 ``densenet121-res224-all``: FID features (features2, 1024-d) and the
classifier of RoentGen Table 3 (18 outputs, sigmoid + torchxrayvision's operating-point rescaling,
which is monotone per class and so leaves AUROC unchanged).

Two preprocessings, both as the RoentGen evaluation ran them:
- ``roentgen2022-xrv`` (FID): clean resize to 299², scale 2048·x/255 − 1024, centre crop to the
  shorter side, torchxrayvision's skimage resize to 224.
- ``roentgen2022-classifier`` (AUROC): longer side to 512 (aspect kept), centre crop 512 (padding
  the shorter side with black), torchxrayvision's resize to 224, scale to [−1024, 1024].
"""
from __future__ import annotations

import numpy as np
import torch

from ...functional.resize import center_crop_or_pad, clean_resize, longer_side_to
from .base import Backbone, load_strict

WEIGHTS_NAME = "densenet121-res224-all"


def _xrv():
    import torchxrayvision as xrv  # heavy import (skimage, pandas): only when the backbone is built

    return xrv


def _scale(x255: np.ndarray) -> np.ndarray:
    return (2.0 * (x255 / 255.0) - 1.0) * 1024.0  # torchxrayvision.utils.normalize(img, 255)


class XRVDenseNet121(Backbone):
    name = "xrv-densenet121"
    layers = {"features2": 1024, "classifier": 18}
    channels_last = True
    preprocessings = ("roentgen2022-xrv", "roentgen2022-classifier")

    @property
    def class_names(self) -> list[str]:
        # From the published model's definition, so cached scores can be read without loading weights.
        return list(_xrv().models.model_urls[WEIGHTS_NAME]["labels"])

    def _adapt_keys(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # op_threshs is a constant of the published model (set below), not a learned tensor.
        state_dict.pop("op_threshs", None)
        return state_dict

    def build(self, state_dict: dict[str, torch.Tensor], where: str) -> torch.nn.Module:
        xrv = _xrv()
        info = xrv.models.model_urls[WEIGHTS_NAME]
        model = xrv.models.DenseNet(weights=None, num_classes=len(info["labels"]))
        load_strict(model, state_dict, where)
        model.targets = list(info["labels"])
        model.pathologies = model.targets
        model.op_threshs = torch.tensor(info["op_threshs"], dtype=torch.float32)
        return model

    def preprocess(self, image: np.ndarray, preprocessing: str) -> np.ndarray:
        xrv = _xrv()
        x255 = image.astype(np.float32) * 255.0
        if preprocessing == "roentgen2022-xrv":
            x = _scale(clean_resize(x255, (299, 299)))[None]
            x = xrv.datasets.XRayCenterCrop()(x)
        elif preprocessing == "roentgen2022-classifier":
            x = center_crop_or_pad(longer_side_to(x255, 512), 512)
            x = _scale(x)[None]
        else:
            raise ValueError(preprocessing)
        return xrv.datasets.XRayResizer(224)(x).astype(np.float32)

    def forward(self, batch: torch.Tensor, layer: str) -> torch.Tensor:
        if layer == "features2":
            return self.model.features2(batch)
        return self.model(batch)
