"""Feature extractors. Each declares layers, preprocessings and its weights source (see base.py)."""
from __future__ import annotations

from typing import Any, Mapping

from ...registry import BACKBONES
from .base import Backbone


def build_backbone(name: str, profile_cfg: Mapping[str, Any], **kwargs: Any) -> Backbone:
    return BACKBONES.get(name)(profile_cfg, **kwargs)


__all__ = ["Backbone", "build_backbone"]
