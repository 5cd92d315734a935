"""Registered metrics: one module per metric, each a `Metric` with its card (`cxrgen_bench/card.py`)."""
from ..card import Card, Section
from ..registry import card_for
from .base import Metric

__all__ = ["Card", "Metric", "Section", "card_for"]
