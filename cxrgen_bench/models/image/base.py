"""What every image encoder ("backbone") declares and does.

A backbone declares its layers (name → dimension), its named preprocessings, and where its weights
come from (the profile's `weights` block). It turns the canonical image (float32 (H, W) in [0, 1],
see `cxrgen_bench.data.images`) into its own input, and a batch of inputs into features.
`extractor_key` names everything that changes the features, for the content-addressed cache.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Mapping

import numpy as np
import torch

from ...data.images import ALPHA_RULES, LoadedImage, alpha_rule
from ...errors import InputError
from ..base import Model, tensor_digest
from ..weights import ResolvedWeights, WeightsSpec, inspect_weights, load_state_dict, resolve_weights


class Backbone(Model, ABC):
    """An image encoder ("backbone"): layers, preprocessings, and one weights file."""

    kind = "backbone"
    layers: ClassVar[dict[str, int]]  # layer name → feature dimension
    preprocessings: ClassVar[tuple[str, ...]]
    # Preprocessings that read a colour file's three channels (the official RoentGen path); the
    # others read the canonical grayscale image.
    colour_preprocessings: ClassVar[frozenset[str]] = frozenset()
    # Convolutional nets run 1.5-1.6x faster in NHWC on CPU (oneDNN) and on tensor-core GPUs.
    channels_last: ClassVar[bool] = False
    # An image–text model (CLIP-style): the image layer that lives in the space its text tower embeds into.
    shared_layer: ClassVar[str | None] = None
    # False for a feature extractor with no weights at all (pyradiomics): nothing to find, fetch or bundle.
    needs_weights: ClassVar[bool] = True

    def __init__(self, profile_cfg: Mapping[str, Any], weights: str | None = None, allow_pickle: bool = False,
                 device: str = "cpu", state_dict: Mapping[str, torch.Tensor] | None = None, name: str | None = None):
        super().__init__(device=device, allow_pickle=allow_pickle)
        if name:  # a profile's own name for a generic kind (`kind: open-clip` under `biomedclip:`)
            self.name = name
        self.cfg = dict(profile_cfg)
        self.torch_device = torch.device(device)
        self._state_dict = state_dict
        if state_dict is None:
            self.spec = WeightsSpec.from_profile(self.name, profile_cfg)
            self.resolved: ResolvedWeights | None = resolve_weights(self.spec, weights)
            self.provenance = inspect_weights(self.resolved)
        else:  # in-memory weights (tests, conversions); still checked key by key
            self.resolved = None
            self.provenance = {"source": "in-memory state dict", "sha256": tensor_digest(state_dict)}

    def load(self) -> torch.nn.Module:
        if self.resolved is not None:
            # Load-time details (how trust was established) stay out of `provenance`: results must
            # not differ between a run that loaded the weights and one served from the cache.
            state_dict, _ = load_state_dict(self.resolved, self.allow_pickle)
            where = str(self.resolved.path)
        else:
            state_dict, where = dict(self._state_dict or {}), "in-memory state dict"
        model = self.build(self._adapt_keys(dict(state_dict)), where).eval().to(self.torch_device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    # --- what subclasses provide ---------------------------------------------------------------
    @abstractmethod
    def build(self, state_dict: dict[str, torch.Tensor], where: str) -> torch.nn.Module:
        """Create the architecture and load the weights strictly (see `load_strict`)."""

    @abstractmethod
    def preprocess(self, image: np.ndarray, preprocessing: str) -> np.ndarray:
        """Canonical image ((H, W), or (H, W, 3) for a colour preprocessing; float32 in [0, 1]) → one
        float32 (C, H, W) network input."""

    @abstractmethod
    def forward(self, batch: torch.Tensor, layer: str) -> torch.Tensor:
        """(B, C, H, W) inputs → (B, dim) features of ``layer``."""

    def _adapt_keys(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map the key names of the official format to ours (identity by default)."""
        return state_dict

    def text_tower(self) -> Any:
        """For an image–text model, the text encoder of its shared space (see `shared_layer`)."""
        raise InputError(f"backbone {self.name} is an image encoder only: it has no text tower for image–text "
                         "retrieval or alignment (use an image–text model such as cxr-repair or clip-vit-b-32)")

    # --- shared ---------------------------------------------------------------------------------
    def check(self, preprocessing: str, layer: str) -> None:
        if preprocessing not in self.preprocessings:
            raise InputError(f"backbone {self.name} has no preprocessing {preprocessing!r}; it has {self.preprocessings}")
        if layer not in self.layers:
            raise InputError(f"backbone {self.name} has no layer {layer!r}; it has {tuple(self.layers)}")

    @property
    def alpha(self) -> str:
        """How this backbone reads a file with partly transparent pixels (`alpha_rule` of its profile block)."""
        return alpha_rule(getattr(self, "cfg", {}), self.name)

    def input_image(self, loaded: LoadedImage, preprocessing: str) -> np.ndarray:
        """The canonical image a preprocessing reads (see `colour_preprocessings`), under the alpha rule."""
        loaded = loaded.under(self.alpha)
        return loaded.rgb() if preprocessing in self.colour_preprocessings else loaded.pixels

    def extractor_key(self, preprocessing: str, layer: str) -> str:
        self.check(preprocessing, layer)
        # the default rule stays out of the key, so that features cached before the rule existed stay valid
        rule = {} if self.alpha == ALPHA_RULES[0] else {"alpha": self.alpha}
        return self.key(preprocessing=preprocessing, layer=layer, **rule)

    @torch.inference_mode()
    def features(self, inputs: list[np.ndarray], layer: str) -> np.ndarray:
        batch = torch.from_numpy(np.stack(inputs)).to(self.torch_device)
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        return self.forward(batch, layer).float().cpu().numpy()
