"""Labellers (the `labellers` registry): report text → the 14 CheXpert labels (1, 0, −1, NaN for not
mentioned). The rule-based labeller runs offline; CheXbert plugs in beside it."""
from .base import Labeller

__all__ = ["Labeller"]
