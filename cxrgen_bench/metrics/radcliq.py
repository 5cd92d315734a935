"""RadCliQ-v1 (Yu et al. 2023, Patterns; rajpurkarlab/CXR-Report-Metric, also in RadEval): per report pair,
the published linear combination of four standardised metrics fitted to radiologists' counts of clinically
significant errors, so lower is better. The components are computed as CXR-Report-Metric's run_eval.py
computes them (`report_scorers.radcliq_components`): RadGraph F1 as the mean of entity and relation F1
(model `radgraph`, the 2022 DyGIE++ model), BERTScore with distilroberta-base (layer 5, no idf, rescaled
with bert-score's baseline), s_emb, the cosine of the two reports' CheXbert [CLS] states, and sentence
BLEU-2; the combination is `functional.radcliq_v1`. The corpus value is the mean over pairs (RadEval's
`1 / mean` is not used: it turns the mean's sign and scale around)."""
from __future__ import annotations

from ..card import Card
from .report_scorers import RadCliQSettings
from .rrg import OneScorerReportMetric


class RadCliQ(OneScorerReportMetric):
    Settings = RadCliQSettings
    card = Card(
        name="radcliq", direction="lower", value_range=(None, None), label="RadCliQ-v1",
        summary="RadCliQ-v1: radiologists' error count predicted from RadGraph F1, BERTScore, CheXbert-embedding "
                "cosine and BLEU-2 of each generated report against its reference.",
        requires=("report_pairs",), scale="open", section="rrg", order=2,
        reported="Yu et al. 2023 (Patterns). Fixed points of the formula: identical reports with RadGraph relations "
                 "-1.44 (without relations, whose F1 is then 0: -0.82); every component 0: 2.45",
        limitations="Needs three models none of which is downloadable here (distilroberta-base, CheXbert, RadGraph's "
                    "2022 model); without any of them it records why and gives no value. Its BLEU-2 weight is ~0: "
                    "BLEU-2 is computed and kept in the details but barely moves the score.")
    options_note = "; its components are in its details"
