"""RadCliQ-v1 (Yu et al. 2023, rajpurkarlab/CXR-Report-Metric; RadEval's `RadCliQv1`): per report pair, a
linear combination of four standardised metrics fitted to radiologists' error counts, so lower is better.

    RadCliQ-v1 = intercept + Σ_k coef_k · (x_k − mean_k) / scale_k,  x = (RadGraph F1, BERTScore, s_emb, BLEU-2)

with RadGraph F1 the mean of the entity and relation F1 (the "combined" reward), BERTScore with
distilroberta-base rescaled with its baseline, s_emb the cosine of the two reports' CheXbert embeddings, and
BLEU-2. The scaler and the regression are the published ones (CXRMetric/run_eval.py)."""
from __future__ import annotations

import numpy as np

from ..errors import MetricError

MEAN = np.array([0.53792312, 0.61757256, 0.76479421, 0.44738335])
SCALE = np.array([0.30282584, 0.22430938, 0.25394391, 0.29892717])
COEF = np.array([-0.377083683, -0.370300100, -0.252616218, 4.31504841e-12])
INTERCEPT = 2.46655256e-10
COMPONENTS = ("radgraph", "bertscore", "semb", "bleu2")


def radcliq_v1(radgraph, bertscore, semb, bleu2) -> np.ndarray:
    """Per-pair RadCliQ-v1 from the four per-pair component arrays (same length; lower is better)."""
    columns = [np.asarray(v, dtype=np.float64).ravel() for v in (radgraph, bertscore, semb, bleu2)]
    sizes = {c.size for c in columns}
    if len(sizes) != 1:
        raise MetricError(f"radcliq_v1: the four components differ in length ({', '.join(str(c.size) for c in columns)})")
    x = np.stack(columns, axis=1)
    if not np.isfinite(x).all():
        bad = [COMPONENTS[j] for j in range(4) if not np.isfinite(x[:, j]).all()]
        raise MetricError(f"radcliq_v1: {', '.join(bad)} has undefined values; score those pairs first")
    return ((x - MEAN) / SCALE) @ COEF + INTERCEPT
