"""RaTEScore (Zhao et al. 2024, EMNLP; the `RaTEScore` package, also in RadEval): entity-level agreement of
a generated report with its reference, synonyms matched through BioLORD embeddings and negation read from
the RaTE-NER types (`functional/ratescore.py`, models in `models/report/ratescore.py`); the corpus value is
the mean over pairs."""
from __future__ import annotations

from ..card import Card
from .report_scorers import RaTEScoreSettings
from .rrg import OneScorerReportMetric


class RaTEScore(OneScorerReportMetric):
    Settings = RaTEScoreSettings
    card = Card(
        name="ratescore", direction="higher", value_range=(0.0, 1.0), label="RaTEScore",
        summary="RaTEScore: F1 of the medical entities of each generated report against its reference's, matched "
                "by embedding, weighted by entity type and penalised for negation.",
        requires=("report_pairs",), scale="unit", section="rrg", order=3,
        limitations="Needs RaTE-NER and BioLORD-2023-C (not downloadable here). A pair in which either report has no "
                    "entity scores 0.5, as in the package. Sentence splitting is medspacy's PyRuSH in the package; "
                    "the punctuation splitter is a named difference.")
