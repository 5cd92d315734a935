"""Factual scores of the top-1 impression a generated image retrieves (RoentGen §6.4, Table 4 bottom):
the impression ranked first by the image–text model (the i2t retrieval protocol) against the query
prompt's own impression. Option keys per scorer: `f1_labeller` runs offline (our rule-based
labeller on both reports; positive and uncertain count as 1; micro-F1 over the profile's five
classes) and is never shown as F1-CheXbert; F1-CheXbert, BERTScore, factENT and RadGraph need the
report-generation scorers and their models."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MetricError
from ..functional.label_f1 import f1_from_counts, label_counts
from ..registry import LABELLERS
from .base import Metric
from .card import Card
from .retrieval_protocol import RetrievalEmbeddings, select

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext

OFFLINE = ("f1_labeller",)


class TopImpressionFactual(Metric):
    card = Card(
        name="i2t_factual", direction="higher", value_range=(0.0, 1.0), label="Top-1 impression",
        summary="Factual agreement of the impression a generated image retrieves first with the prompt's own "
                "impression (labels F1, BERTScore, entities, RadGraph).",
        requires=("images", "prompts", "labels", "image_encoder"), scale="percent", section="i2t", order=20,
        options=(("f1_labeller", "F1-labeller"), ("f1_chexbert", "F1-CheXbert"), ("bertscore", "BERTScore"),
                 ("factent", "factENT"), ("radgraph", "RadGraph")), option_format="{option}",
        reported="RoentGen (CXR-RePaiR top-1): F1-CheXbert 45.3, BERTScore 34.3, factENT 15.3, RadGraph 9.2",
        limitations="F1-labeller uses the rule-based labeller (measured against OpenI MeSH in docs/labeller.md), "
                    "not CheXbert: never compare it with F1-CheXbert numbers.")

    def compute(self, ctx: EvaluationContext) -> list[dict[str, Any]]:
        scorers = self.options or ["f1_labeller"]
        missing = [s for s in scorers if s not in OFFLINE]
        if missing:
            raise MetricError(f"i2t_factual[{'+'.join(missing)}] needs the report-generation scorers and their "
                              "models (CheXbert, BERTScore, Stanza, RadGraph), not available in this version; "
                              "i2t_factual[f1_labeller] runs offline")
        selection = select(ctx, self.config, self.name, "reports")
        ranking, _ = RetrievalEmbeddings(ctx, self.config, selection, to_text=True).ranking(1)
        prompts = ctx.image_subject.prompts
        retrieved = [prompts.prompts[selection.candidate_ids[i]].text for i in ranking[:, 0]]
        own = [prompts.prompts[r.prompt_id].text for r in selection.queries]
        labeller = ctx.use_model("labeller", LABELLERS.get(self.config.get("labeller", "rule-based"))())
        classes = list(self.config.get("f1_classes", ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema",
                                                      "Pleural Effusion")))
        columns = [labeller.classes.index(c) for c in classes]
        positive = lambda labels: np.isin(labels[:, columns], (1.0, -1.0)).astype(float)  # noqa: E731
        tp, fp, fn = label_counts(positive(ctx.labels(retrieved, labeller)), positive(ctx.labels(own, labeller)))
        micro, per_class = f1_from_counts(tp, fp, fn)
        units = [r.prompt_id for r in selection.queries]
        details = {"per_class": {c: None if not np.isfinite(v) else float(v) for c, v in zip(classes, per_class)},
                   "labeller": labeller.name, "classes": classes, "selection": selection.describe(),
                   "label_rule": "positive and uncertain count as 1"}
        entry = self.value(f"{self.name}[f1_labeller]", micro, len(ctx.image_subject.images.prompt_ids), len(units),
                           details)
        sums = np.stack([tp.sum(axis=1), fp.sum(axis=1), fn.sum(axis=1)], axis=1)  # per query

        def replicates(weights: np.ndarray) -> np.ndarray:
            t, p, n = (weights @ sums).T
            den = 2 * t + p + n
            return np.divide(2 * t, den, out=np.zeros_like(den), where=den > 0)

        return [self.attach_bootstrap(entry, ctx, units, replicates)]
