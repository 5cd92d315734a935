"""The CheXpert-14 observation names and how 1 / 0 / −1 / blank are read for each consumer."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

CHEXPERT_14 = (
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
    "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
    "Pneumothorax", "Support Devices",
)


def parse_label(value: Any, where: str) -> float | None:
    """Read one CSV cell: 1, 0, −1 (uncertain) or blank (not mentioned → None)."""
    if value is None:
        return None
    text = str(value).strip()
    if text == "" or text.lower() in ("nan", "none", "null"):
        return None
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if number not in (1.0, 0.0, -1.0):
        raise InputError(f"{where}: label value {text!r} is not one of 1, 0, -1 or blank")
    return number


@dataclass(frozen=True)
class LabelPolicy:
    """What a consumer makes of uncertain (−1) and blank labels: 1, 0, or None (skip the row for that class)."""

    uncertain: float | None = 1.0
    blank: float | None = 0.0

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "LabelPolicy":
        def read(key: str) -> float | None:
            v = cfg.get(key)
            if v in (None, "skip"):
                return None
            return float(v)
        return cls(uncertain=read("uncertain"), blank=read("blank"))

    def apply(self, label: float | None) -> float:
        """A binary target, or NaN for "unknown, skip"."""
        if label is None:
            out = self.blank
        elif label == -1.0:
            out = self.uncertain
        else:
            out = label
        return math.nan if out is None else float(out)

    def as_dict(self) -> dict[str, Any]:
        return {"uncertain": "skip" if self.uncertain is None else self.uncertain,
                "blank": "skip" if self.blank is None else self.blank}
