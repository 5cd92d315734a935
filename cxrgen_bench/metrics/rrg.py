"""Factual correctness through report generation (RoentGen §6.2, Table 4 top): a fixed report
generator writes an impression for every generated image, and each impression is scored against
its prompt's impression. `score-reports` scores stored report pairs the same way.

The scorers (`report_scorers.py`) reduce to per-pair sufficient statistics, so one code path gives
the corpus value, the per-sample values a reviewer sorts by, and the prompt-level bootstrap (all
images of a resampled prompt move together). A scorer whose model is absent gives an entry with
the reason (the run is then `partial`); the others still run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..card import Card
from ..errors import InputError
from ..results.entry import Entry
from ..settings import Settings, setting
from .base import Metric
from .report_scorers import ReportScorerSettings, score_entries

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext

PAPER_SCORERS = ("bleu4", "rouge_l", "bertscore", "f1_chexbert", "factent", "factentnli", "radgraph")


@dataclass(frozen=True)
class ReportGeneratorSettings(Settings):
    decoding: dict[str, Any] = setting({}, "generation arguments of the report generator (num_beams, "
                                           "max_new_tokens, do_sample: false)")


@dataclass(frozen=True)
class RRGSettings(ReportScorerSettings):
    report_generator: ReportGeneratorSettings = setting(ReportGeneratorSettings(), "how --report-generator writes")


class ReportGeneration(Metric):
    Settings = RRGSettings
    card = Card(
        name="rrg", direction="higher", value_range=(0.0, 1.0), label="RRG",
        summary="Agreement of the impression a fixed report generator writes for each generated image with the "
                "prompt's impression (BLEU-4, ROUGE-L, BERTScore, F1-CheXbert, factENT, factENTNLI, RadGraph).",
        requires=("report_pairs",), scale="percent", section="rrg", order=1,
        options=(("bleu4", "BLEU-4"), ("rouge_l", "ROUGE-L"), ("f1_chexbert", "F1-CheXbert"),
                 ("bertscore", "BERTScore"), ("factent", "factENT"), ("factentnli", "factENTNLI"),
                 ("radgraph", "RadGraph"), ("f1_labeller", "F1-labeller")), option_format="{option}",
        reported="RoentGen Table 4: ground-truth images 8.9/23.0/50.4/45.6/27.6/23.3/22.5; RoentGen 5.5/19.9/46.5/"
                 "42.3/24.1/19.9/18.9 (BLEU-4, ROUGE-L, F1-CheXbert, BERTScore, factENT, factENTNLI, RadGraph)",
        limitations="Values depend on the report generator as much as on the images: compare rows scored with the "
                    "same model (its sha256 is in the results). F1-labeller uses the rule-based labeller, not "
                    "CheXbert: never compare it with F1-CheXbert numbers.")

    def compute(self, ctx: EvaluationContext) -> list[Entry]:
        ids, units, hyps, refs = self._pairs(ctx)
        scorers = self.options or list(self.settings.scorers or PAPER_SCORERS)
        unknown = [s for s in scorers if s not in dict(self.card.options)]
        if unknown:
            raise InputError(f"rrg: unknown scorer(s) {unknown}; choose from {', '.join(dict(self.card.options))}")
        return score_entries(self, ctx, scorers, ids, units, hyps, refs)

    def _pairs(self, ctx: EvaluationContext) -> tuple[list[str], list[str], list[str], list[str]]:
        return report_pairs(self.name, ctx)


class OneScorerReportMetric(Metric):
    """A report metric that is one scorer of `report_scorers` under its own name and card (radcliq,
    ratescore): no options, the same report pairs as rrg, per-pair values kept."""

    options_note = ""  # what the refusal of an option adds

    def compute(self, ctx: EvaluationContext) -> list[Entry]:
        if self.options:
            raise InputError(f"{self.name} takes no options ({self.options}){self.options_note}")
        ids, units, hyps, refs = report_pairs(self.name, ctx)
        return score_entries(self, ctx, [self.name], ids, units, hyps, refs)


def report_pairs(metric: str, ctx: EvaluationContext) -> tuple[list[str], list[str], list[str], list[str]]:
    """(sample ids, their resampling units, hypotheses, references) of the subject: stored report pairs, or
    the reports the subject's report generator writes for its images (cached per image, so every report
    metric of a run reads the same reports) against their prompts' impressions."""
    from ..evaluation.subjects import ReportPairsSubject

    subject = ctx.subject
    if isinstance(subject, ReportPairsSubject):
        ids, hyps, refs = subject.pairs()
        return ids, ids, hyps, refs
    records = list(subject.images.records)
    prompts = subject.require_prompts(metric, records, "generated")
    generator = ctx.use_model("report_generator", subject.report_generator)
    hyps = ctx.generated_reports(records, generator)
    ids = [f"{r.prompt_id}_{r.sample_idx}" for r in records]
    refs = [prompts.prompts[r.prompt_id].text for r in records]
    ctx.artifacts["reports.csv"] = reports_csv(records, hyps, refs)
    return ids, [r.prompt_id for r in records], hyps, refs


def reports_csv(records: list, hyps: list[str], refs: list[str]) -> str:
    """The generated reports beside the results (`<out>.reports.csv`), for reading the worst cases."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["prompt_id", "sample_idx", "image_sha256", "generated_report", "prompt_report"])
    for r, h, ref in zip(records, hyps, refs):
        writer.writerow([r.prompt_id, r.sample_idx, r.sha256, h, ref])
    return buf.getvalue()
