"""Factual scores of the top-1 impression a generated image retrieves (RoentGen §6.4, Table 4 bottom):
the impression ranked first by the image–text model (the i2t retrieval protocol) against the query
prompt's own impression, with the report scorers of `rrg` (`report_scorers.py`; their settings come
from this metric's profile block). Option keys per scorer: `f1_labeller` runs offline (our
rule-based labeller on both reports; positive and uncertain count as 1; micro-F1 over the profile's
classes) and is never shown as F1-CheXbert; F1-CheXbert, BERTScore, factENT and RadGraph need their
models."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..card import Card
from ..errors import MetricError
from ..results.entry import Entry
from .base import Metric
from .report_scorers import ReportScorerSettings, score_entries
from .retrieval_protocol import RetrievalEmbeddings, RetrievalSettings, select

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext

DEFAULT_SCORERS = ("f1_chexbert", "bertscore", "factent", "radgraph")  # RoentGen Table 4, bottom


@dataclass(frozen=True)
class TopImpressionSettings(RetrievalSettings, ReportScorerSettings):
    """The i2t retrieval protocol (which impression comes first) and the scorers of that impression."""


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
    Settings = TopImpressionSettings

    def compute(self, ctx: EvaluationContext) -> list[Entry]:
        scorers = self.options or list(self.settings.scorers or DEFAULT_SCORERS)
        unknown = [s for s in scorers if s not in dict(self.card.options)]
        if unknown:
            raise MetricError(f"i2t_factual: unknown scorer(s) {unknown}; choose from {', '.join(dict(self.card.options))}")
        selection = select(ctx, self.settings, self.name, "reports")
        ranking, _ = RetrievalEmbeddings(ctx, self.settings, selection, True, self.name).ranking(1)
        prompts = ctx.image_subject.prompts
        retrieved = [prompts.prompts[selection.candidate_ids[i]].text for i in ranking[:, 0]]
        own = [prompts.prompts[r.prompt_id].text for r in selection.queries]
        units = [r.prompt_id for r in selection.queries]
        entries = score_entries(self, ctx, scorers, units, units, retrieved, own)
        for entry in entries:
            entry.n.requested = len(ctx.image_subject.images.prompt_ids)
            if not entry.given("error"):
                entry.details["selection"] = selection.describe()
        return entries
