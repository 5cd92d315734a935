"""One registered adapter per metric; each carries its card (direction, range, requirements, version)."""
from .base import Metric, ScoringContext

__all__ = ["Metric", "ScoringContext"]
