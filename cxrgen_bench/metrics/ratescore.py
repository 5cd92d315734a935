"""RaTEScore (Zhao et al. 2024, EMNLP; the `RaTEScore` package, also in RadEval): entity-level agreement of
a generated report with its reference, synonyms matched through BioLORD embeddings and negation read from
the RaTE-NER types (`functional/ratescore.py`, models in `models/report/ratescore.py`); the corpus value is
the mean over pairs."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..card import Card
from ..errors import InputError
from .base import Metric
from .report_scorers import score_entries
from .rrg import report_pairs

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext


class RaTEScore(Metric):
    card = Card(
        name="ratescore", direction="higher", value_range=(0.0, 1.0), label="RaTEScore",
        summary="RaTEScore: F1 of the medical entities of each generated report against its reference's, matched "
                "by embedding, weighted by entity type and penalised for negation.",
        requires=("report_pairs",), scale="unit", section="rrg", order=3,
        limitations="Needs RaTE-NER and BioLORD-2023-C (not downloadable here). A pair in which either report has no "
                    "entity scores 0.5, as in the package. Sentence splitting is medspacy's PyRuSH in the package; "
                    "the punctuation splitter is a named difference.")

    def compute(self, ctx: EvaluationContext) -> list[dict[str, Any]]:
        if self.options:
            raise InputError(f"ratescore takes no options ({self.options})")
        ids, units, hyps, refs = report_pairs(self.name, ctx)
        return score_entries(self, ctx, ["ratescore"], ids, units, hyps, refs)
