"""Metrics of the RoentGen framework known here, so far, only from numbers typed in from the papers
(leaderboard/reported/*.yaml): report-generation scorers and augmentation runs. Their cards have the same form as every other card, so boards, the gate and `compare`
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


_RRG = "of the impression a fixed report-generation model writes for a generated image, vs the prompt's"
RRG_BLEU4 = _reported("rrg_bleu4", "BLEU-4", "rrg", 1, f"Corpus BLEU-4 {_RRG}")
RRG_ROUGE_L = _reported("rrg_rouge_l", "ROUGE-L", "rrg", 2, f"ROUGE-L F {_RRG}")
RRG_F1_CHEXBERT = _reported("rrg_f1_chexbert", "F1-CheXbert", "rrg", 3, f"CheXbert-label micro-F1 {_RRG}")
RRG_BERTSCORE = _reported("rrg_bertscore", "BERTScore", "rrg", 4, f"BERTScore F1 {_RRG}")
RRG_FACTENT = _reported("rrg_factent", "factENT", "rrg", 5, f"Entity-match F1 {_RRG}")
RRG_FACTENTNLI = _reported("rrg_factentnli", "factENTNLI", "rrg", 6, f"NLI-filtered entity F1 {_RRG}")
RRG_RADGRAPH = _reported("rrg_radgraph", "RadGraph", "rrg", 7, f"RadGraph F1 (partial) {_RRG}")

AUGMENTATION_AUROC = _reported("augmentation_auroc", "AUROC", "augmentation", 1,
                               "Test AUROC of a DenseNet-121 trained on real and/or synthetic images", scale="unit")
AUGMENTATION_ACCURACY = _reported("augmentation_accuracy", "Accuracy", "augmentation", 2,
                                  "Test accuracy of a DenseNet-121 trained on real and/or synthetic images", scale="unit")
