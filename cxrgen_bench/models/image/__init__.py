"""Feature extractors. Each declares layers, preprocessings and its weights source (see base.py).

A profile's backbone block is built by the registered backbone of its name, or of its `kind` when it
names a generic one (`kind: open-clip`, `kind: transformers`) under a name of the user's choosing."""
from __future__ import annotations

from typing import Any, Mapping

from ...data.images import alpha_rule
from ...registry import BACKBONES
from .base import Backbone


def build_backbone(name: str, profile_cfg: Mapping[str, Any], **kwargs: Any) -> Backbone:
    alpha_rule(profile_cfg, name)  # a misspelt rule is refused here, not at the backbone's first image
    kind = profile_cfg.get("kind")
    if kind:
        return BACKBONES.get(kind)(profile_cfg, name=name, **kwargs)
    return BACKBONES.get(name)(profile_cfg, **kwargs)


__all__ = ["Backbone", "build_backbone"]
