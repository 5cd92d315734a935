"""A patient re-identification network in the format of Packhäuser et al. 2022 ("Deep learning-based
patient re-identification is able to exploit the biometric nature of medical chest X-ray data",
Sci. Rep.; also the verification model of their PriCheXy-Net): twin ResNet-50 branches with shared
weights, each ending in a linear layer 2048 → n (n = 128 in the paper) and a sigmoid — the
embedding; the pair score is sigmoid(fc_end(|e₁ − e₂|)), the probability that two radiographs show
the same patient.

Weights: a state dict with torchvision ResNet-50 keys under `model.` (`model.fc` being the 2048 → n
layer; a 1-channel `model.conv1` is accepted) and `fc_end.weight/bias` (n → 1). The embedding size
and input channels are read from the file. No published weights can be had offline: give your own
trained file with ``--weights reid-siamese=FILE`` or put ``reid-siamese.safetensors`` in
$CXRGEN_WEIGHTS (`cxrgen-bench weights convert` turns a torch.save file into safetensors).

Layer ``embedding`` (n-d, after the sigmoid) is a feature space for the memorisation study's
nearest-neighbour search; `pair_score` scores the pairs it finds.

Preprocessing ``reid-256`` (our reading of the authors' set-up; check it against your weights'
training): the grayscale image on 3 channels (or 1, as conv1 asks), 256×256 bilinear, ImageNet
mean/std. ``chexgenbench-224`` is CheXGenBench's (`metrics/privacy_metrics.py`): the file's RGB,
torchvision `Resize((224, 224))` (PIL bilinear), `ToTensor` (÷ 255) and no normalisation;
``chexgenbench-224-real`` first resizes to 512×512 as it reads the training image of a prompt
(PIL's default bicubic, `Image.open(path).resize((512, 512))`).
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..weights import load_strict
from .base import Backbone
from .convirt import IMAGENET_MEAN, IMAGENET_STD

INPUT = 256


class SiameseReID(nn.Module):
    def __init__(self, n_features: int = 128, in_channels: int = 3):
        super().__init__()
        import torchvision

        self.model = torchvision.models.resnet50(weights=None)
        if in_channels == 1:
            self.model.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.model.fc = nn.Linear(2048, n_features)
        self.fc_end = nn.Linear(n_features, 1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(x))

    def score(self, e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc_end((e1 - e2).abs()))[:, 0]

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return self.score(self.embed(x1), self.embed(x2))


def chexgenbench_224(rgb: np.ndarray, real: bool = False) -> np.ndarray:
    """(H, W, 3) float in [0, 1] → (3, 224, 224) float32 in [0, 1] as CheXGenBench feeds its Siamese net."""
    pil = Image.fromarray(np.clip(np.rint(np.asarray(rgb, np.float64) * 255.0), 0, 255).astype(np.uint8), "RGB")
    if real:
        pil = pil.resize((512, 512), Image.Resampling.BICUBIC)
    small = np.asarray(pil.resize((224, 224), Image.Resampling.BILINEAR), np.float32) / 255.0
    return np.ascontiguousarray(small.transpose(2, 0, 1))


class ReIDSiamese(Backbone):
    name = "reid-siamese"
    layers = {"embedding": 128}
    preprocessings = ("reid-256", "chexgenbench-224", "chexgenbench-224-real")
    colour_preprocessings = frozenset({"chexgenbench-224", "chexgenbench-224-real"})
    channels_last = True
    in_channels = 3

    def build(self, state_dict: dict[str, torch.Tensor], where: str) -> torch.nn.Module:
        fc = state_dict.get("model.fc.weight")
        conv = state_dict.get("model.conv1.weight")
        n_features = int(fc.shape[0]) if fc is not None and fc.ndim == 2 else 128
        self.in_channels = int(conv.shape[1]) if conv is not None and conv.ndim == 4 else 3
        self.layers = {"embedding": n_features}  # the file's embedding size, not the paper's default
        model = SiameseReID(n_features, self.in_channels)
        load_strict(model, state_dict, where)
        return model

    def preprocess(self, image: np.ndarray, preprocessing: str = "reid-256") -> np.ndarray:
        if preprocessing.startswith("chexgenbench-224"):
            return chexgenbench_224(image, real=preprocessing.endswith("-real"))
        small = Image.fromarray(np.asarray(image, np.float32)).resize((INPUT, INPUT), Image.Resampling.BILINEAR)
        x = np.repeat(np.clip(np.asarray(small, np.float32), 0, 1)[None], 3, axis=0)
        x = (x - IMAGENET_MEAN) / IMAGENET_STD
        # a 1-channel net sees the normalised first channel; the net is loaded first so its conv1 is known
        return x[:1] if self.model is not None and self.in_channels == 1 else x

    def forward(self, batch: torch.Tensor, layer: str) -> torch.Tensor:
        return self.model.embed(batch)

    @torch.inference_mode()
    def pair_score(self, e1: np.ndarray, e2: np.ndarray) -> np.ndarray:
        """Same-patient probability of each pair of embeddings (rows of ``e1`` and ``e2``)."""
        dev = self.torch_device
        return self.model.score(torch.as_tensor(e1, device=dev).float(),
                                torch.as_tensor(e2, device=dev).float()).cpu().numpy()
