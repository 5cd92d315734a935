"""Metrics of the RoentGen framework known here, so far, only from numbers typed in from the papers
(leaderboard/reported/*.yaml): augmentation runs. Their cards have the same form as every other card, so boards, the gate and `compare`
treat the reported rows like any other; asking to compute one says it is not implemented yet.
"""
from __future__ import annotations

from typing import Any

from ..errors import MetricError
from .base import Metric
from .card import Card


class ReportedOnly(Metric):
    """A metric with a card and no implementation (yet): its values come from papers."""

    def compute(self, ctx: Any) -> list[dict[str, Any]]:
        raise MetricError(f"{self.card.name} is known here only from numbers reported in papers "
                          f"({self.card.board_section.source}); cxrgen-bench cannot compute it yet")


def _reported(name: str, label: str, section: str, order: int, summary: str, scale: str = "percent",
              **extra: Any) -> type[Metric]:
    card = Card(name=name, direction="higher", value_range=(0.0, 1.0),
                label=label, summary=summary, scale=scale, section=section, order=order, reported_only=True,
                version="reported", **extra)
    return type(f"Reported_{name}", (ReportedOnly,), {"card": card, "__module__": __name__})


AUGMENTATION_AUROC = _reported("augmentation_auroc", "AUROC", "augmentation", 1,
                               "Test AUROC of a DenseNet-121 trained on real and/or synthetic images", scale="unit")
AUGMENTATION_ACCURACY = _reported("augmentation_accuracy", "Accuracy", "augmentation", 2,
                                  "Test accuracy of a DenseNet-121 trained on real and/or synthetic images", scale="unit")
