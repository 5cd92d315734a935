"""Attribute predictors: image models that read a patient's sex, age or race from a radiograph, as RoentGen-v2
checks each generated image against its prompt before keeping it ("demographics quality check",
StanfordMIMI/RoentGen-v2 `run_inference_w_quality_check.py`). Each is a backbone whose layers are the
attributes it predicts (`predicts`: attribute → layer), so predictions are cached per image like any feature.

- ``mira-sex``: the sex classifier RoentGen-v2 uses (Glocker et al. 2023, biomedia-mira/chexploration
  `prediction/chexpert.sex.py`): a torchvision ResNet-34 with a 2-way head, published as a PyTorch
  Lightning checkpoint (`state_dict` with `model.` prefixes). Layer ``sex``: P(female) (class 1 is female,
  as RoentGen-v2 reads it).
- ``xrv-race``: torchxrayvision's `baseline_models.emory_hiti.RaceModel` (Gichoya et al. 2022): a ResNet-34
  whose head is Linear(512, 3) + LogSoftmax, saved from DataParallel (`module.` prefixes). Layer ``race``:
  probabilities of Asian, Black, White.
- ``riken-age``: torchxrayvision's `baseline_models.riken.AgeModel` (Ieki et al. 2022): a SENet-154 regressing
  age in years, published as a TorchScript archive. TorchScript carries code, so it is read only when its
  sha256 is the published one or with --allow-pickle, its tensors loaded into our own SENet-154 (timm's
  `legacy_senet154`, the Cadene layout the archive was traced from), never run. Layer ``age``.

Preprocessing ``roentgen-v2-qc``, RoentGen-v2's: the image resized to 224² (area), then per model — sex:
intensities scaled to [0, 255] per image, three channels; race and age: scaled to [−1024, 1024] per image
(both with monai's rule for a constant image, see `_min_max`),
torchxrayvision's resize to 320² (bilinear, antialiased), (x + 1024) / 2048, ImageNet mean/std, three
channels. The Riken model's validity is an age tolerance of 16 years (RoentGen-v2's sigma).
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from ..weights import load_strict
from .base import Backbone

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
RACES = ("Asian", "Black", "White")


class AttributePredictor(Backbone):
    """A backbone whose layers are predicted attributes: `predicts` maps an attribute (sex, age, race) to
    its layer. sex: P(female), one value; age: years, one value; race: probabilities of `classes`."""

    version = "2"  # 2: a constant image is scaled as monai scales it (1: set to the low end of the range)

    predicts: ClassVar[dict[str, str]] = {}
    classes: ClassVar[tuple[str, ...]] = ()  # the categories of a categorical attribute's layer, in order


def _qc_224(image: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    return torch.nn.functional.interpolate(x, size=(224, 224), mode="area")


def _min_max(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """monai's `rescale_array`, which RoentGen-v2's `ScaleIntensityd(minv=lo, maxv=hi)` calls: min–max to
    [lo, hi], but a constant image is multiplied by ``lo`` rather than set to it. So a black image reaches the
    race and age models as 0 on their −1024…1024 scale (mid-grey once they map it to [0, 1]), a white one as
    −1024, and the sex model (lo = 0) sees any constant image as 0."""
    low, high = x.min(), x.max()
    if low == high:
        return x * lo
    return (x - low) / (high - low) * (hi - lo) + lo


def xrv_input(image: np.ndarray) -> np.ndarray:
    """The race and age models' input: see the module docstring."""
    x = _min_max(_qc_224(image), -1024.0, 1024.0)
    x = torch.nn.functional.interpolate(x, size=(320, 320), mode="bilinear", antialias=True)
    x = (x + 1024.0) / 2048.0
    x = x.repeat(1, 3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((x - mean) / std)[0].numpy()


def _resnet34(head: torch.nn.Module) -> torch.nn.Module:
    import torchvision

    model = torchvision.models.resnet34(weights=None)
    model.fc = head
    return model


def _strip(state_dict: dict[str, torch.Tensor], *prefixes: str) -> dict[str, torch.Tensor]:
    for prefix in prefixes:
        if state_dict and all(k.startswith(prefix) for k in state_dict):
            state_dict = {k[len(prefix):]: v for k, v in state_dict.items()}
    return state_dict


class MiraSex(AttributePredictor):
    name = "mira-sex"
    layers = {"sex": 1}
    preprocessings = ("roentgen-v2-qc",)
    predicts = {"sex": "sex"}

    def _adapt_keys(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return _strip(state_dict, "model.")  # Lightning keeps the network under `self.model`

    def build(self, state_dict: dict[str, torch.Tensor], where: str) -> torch.nn.Module:
        model = _resnet34(torch.nn.Linear(512, 2))
        load_strict(model, state_dict, where)
        return model

    def preprocess(self, image: np.ndarray, preprocessing: str = "roentgen-v2-qc") -> np.ndarray:
        return _min_max(_qc_224(image), 0.0, 255.0).repeat(1, 3, 1, 1)[0].numpy()

    def forward(self, batch: torch.Tensor, layer: str) -> torch.Tensor:
        return torch.softmax(self.model(batch), dim=1)[:, 1:2]


class XRVRace(AttributePredictor):
    name = "xrv-race"
    layers = {"race": len(RACES)}
    preprocessings = ("roentgen-v2-qc",)
    predicts = {"race": "race"}
    classes = RACES

    def _adapt_keys(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return _strip(state_dict, "module.")  # saved from DataParallel

    def build(self, state_dict: dict[str, torch.Tensor], where: str) -> torch.nn.Module:
        model = _resnet34(torch.nn.Sequential(torch.nn.Linear(512, len(RACES)), torch.nn.LogSoftmax(dim=1)))
        load_strict(model, state_dict, where)
        return model

    def preprocess(self, image: np.ndarray, preprocessing: str = "roentgen-v2-qc") -> np.ndarray:
        return xrv_input(image)

    def forward(self, batch: torch.Tensor, layer: str) -> torch.Tensor:
        return self.model(batch).exp()


class RikenAge(AttributePredictor):
    name = "riken-age"
    layers = {"age": 1}
    preprocessings = ("roentgen-v2-qc",)
    predicts = {"age": "age"}

    def _adapt_keys(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return _strip(state_dict, "module.", "model.")

    def build(self, state_dict: dict[str, torch.Tensor], where: str) -> torch.nn.Module:
        import timm

        model = timm.create_model("legacy_senet154", pretrained=False, num_classes=1)
        load_strict(model, state_dict, where)
        return model

    def preprocess(self, image: np.ndarray, preprocessing: str = "roentgen-v2-qc") -> np.ndarray:
        return xrv_input(image)

    def forward(self, batch: torch.Tensor, layer: str) -> torch.Tensor:
        return self.model(batch)[:, :1]
