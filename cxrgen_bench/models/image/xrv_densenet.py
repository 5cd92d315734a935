"""torchxrayvision DenseNet-121 ``densenet121-res224-all``: FID features (features2, 1024-d) and the
classifier of RoentGen Table 3 (18 outputs, sigmoid + torchxrayvision's operating-point rescaling,
which is monotone per class and so leaves AUROC unchanged).

Preprocessings:
- ``roentgen2022-xrv-rgb`` (FID, roentgen2022 v2): the official evaluation's steps
  (`eval/calculate_fid.py`): the file's RGB channels, clean resize of each to 299², torchvision's
  `rgb_to_grayscale` (0.2989 R + 0.587 G + 0.114 B), 2048·x/255 − 1024, the centre crop (a no-op on
  the square 299² image), torchvision `Resize(224)` bilinear without antialiasing (the tensor default
  of the torchvision of 2022, before 0.17 turned antialiasing on).
- ``roentgen2022-xrv`` (roentgen2022 v1): grayscale first, clean 299², scale, torchxrayvision's
  centre crop and skimage resize to 224.
- ``roentgen2022-classifier`` (AUROC; seeds/000 §5.3, no official code): longer side to 512 (aspect
  kept), centre crop 512 with torchvision's rule (so the shorter side is padded with black),
  torchxrayvision's resize to 224, scale to [−1024, 1024].
- ``roentgen2022-classifier-crop``: the other reading of that sentence: shorter side to 512, centre
  crop 512 (the longer side is cut, nothing is padded).
"""
from __future__ import annotations

import numpy as np
import torch

from ...functional.resize import center_crop_or_pad, clean_resize, side_to
from ..weights import load_strict
from .base import Backbone

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
    preprocessings = ("roentgen2022-xrv-rgb", "roentgen2022-xrv", "roentgen2022-classifier",
                      "roentgen2022-classifier-crop")
    colour_preprocessings = frozenset({"roentgen2022-xrv-rgb"})

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
        if preprocessing == "roentgen2022-xrv-rgb":
            return _official_fid_input(image)
        xrv = _xrv()
        x255 = image.astype(np.float32) * 255.0
        if preprocessing == "roentgen2022-xrv":
            x = _scale(clean_resize(x255, (299, 299)))[None]
            x = xrv.datasets.XRayCenterCrop()(x)
        elif preprocessing.startswith("roentgen2022-classifier"):
            side = "shorter" if preprocessing.endswith("-crop") else "longer"
            x = _scale(center_crop_or_pad(side_to(x255, 512, side), 512))[None]
        else:
            raise ValueError(preprocessing)
        return xrv.datasets.XRayResizer(224)(x).astype(np.float32)

    def forward(self, batch: torch.Tensor, layer: str) -> torch.Tensor:
        if layer == "features2":
            return self.model.features2(batch)
        return self.model(batch)


def _official_fid_input(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) or (H, W) in [0, 1] → (1, 224, 224), as the official FID script feeds XRV."""
    from torchvision.transforms.functional import InterpolationMode, resize, rgb_to_grayscale

    channels = image.transpose(2, 0, 1) if image.ndim == 3 else np.repeat(image[None], 3, axis=0)
    rgb = torch.from_numpy(np.stack([clean_resize(c * 255.0, (299, 299)) for c in channels]))
    x = _scale(rgb_to_grayscale(rgb).numpy())  # weights sum to 0.9999: a gray file loses 0.01 %
    # The official centre crop to the shorter side is the identity here: the image is 299² already.
    out = resize(torch.from_numpy(x), [224], InterpolationMode.BILINEAR, antialias=False)
    return out.numpy().astype(np.float32)
