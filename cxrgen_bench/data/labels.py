"""The CheXpert-14 observation names and how 1 / 0 / −1 / blank are read for each consumer."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InputError
from ..settings import Settings, setting

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


@dataclass(frozen=True)
class LabelPolicySettings(Settings):
    """A profile's `label_policy: {uncertain: 1, blank: 0}` block ("skip": leave the row out for that class)."""

    uncertain: float | Literal["skip"] | None = setting(1.0, "what an uncertain (−1) label counts as")
    blank: float | Literal["skip"] | None = setting(0.0, "what a blank (not mentioned) label counts as")

    def policy(self) -> LabelPolicy:
        return LabelPolicy.from_config(self.to_dict())


# One place for what each consumer makes of uncertain (−1) and blank labels. Results record the
# policy they used (classifier_auroc copies it from the profile, which defaults to this table).
CONSUMER_POLICIES: dict[str, LabelPolicy] = {
    # RoentGen Table 3 counts uncertain as positive; blank means "not mentioned" → negative.
    "classifier_auroc": LabelPolicy(uncertain=1.0, blank=0.0),
    # Retrieval (Table 4) picks single-label reports: only certain positives define a class; an
    # uncertain mention makes the report unusable for that class rather than a negative.
    "retrieval": LabelPolicy(uncertain=None, blank=0.0),
    # Augmentation training (Table 5): the common "U-Ones" policy of CheXpert training.
    "augmentation": LabelPolicy(uncertain=1.0, blank=0.0),
    # CheXpert@k counts a report as positive for a class only when the mention is certain; an
    # uncertain one makes the report unknown for that class (and not single-label).
    "chexpert_at_k": LabelPolicy(uncertain=None, blank=0.0),
}


def policy_for(consumer: str) -> LabelPolicy:
    if consumer not in CONSUMER_POLICIES:
        raise KeyError(f"no label policy for {consumer!r}; known: {', '.join(CONSUMER_POLICIES)}")
    return CONSUMER_POLICIES[consumer]
