"""Registered metrics: one module per metric, each a `Metric` with its card (card.py)."""
from .base import Metric
from .card import Card, Section, card_for

__all__ = ["Card", "Metric", "Section", "card_for"]
