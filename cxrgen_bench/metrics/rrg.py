"""Factual correctness through report generation (RoentGen §6.2, Table 4 top): a fixed report
generator writes an impression for every generated image, and each impression is scored against
its prompt's impression. `score-reports` scores stored report pairs the same way.

Every scorer reduces to per-pair sufficient statistics and a function of their (weighted) sums, so
one code path gives the corpus value, the per-sample values a reviewer sorts by, and the
prompt-level bootstrap (all images of a resampled prompt move together):
- bleu4: the 10 BLEU statistics (`functional.text_overlap`), corpus BLEU-4 of their sums;
- rouge_l, bertscore, factent, radgraph: (score, 1), the mean;
- f1_chexbert, f1_labeller: (tp, fp, fn) over the profile's classes, micro-F1 (positive and uncertain
  count as 1); the 14-class micro and macro F1 go into the details.
A scorer whose model is absent gives an entry with the reason (the run is then `partial`); the
others still run. factENTNLI is not implemented in this version (it needs the NLI model of
ViLMedic's factENT scorer); asking for it says so.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import CxrgenError, InputError, MetricError
from ..functional.report_entities import entity_f1, radgraph_reward
from ..functional.text_overlap import bleu_from_stats, bleu_stats, rouge_l_scores
from ..registry import LABELLERS
from .base import Metric
from .card import Card

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext

PAPER_SCORERS = ("bleu4", "rouge_l", "bertscore", "f1_chexbert", "factent", "factentnli", "radgraph")
OFFLINE_SCORERS = ("bleu4", "rouge_l", "f1_labeller")
F1_CLASSES = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
WORST = 5

Reduce = Callable[[np.ndarray], np.ndarray]


def _mean(totals: np.ndarray) -> np.ndarray:
    totals = np.asarray(totals, dtype=np.float64)
    return np.divide(totals[..., 0], totals[..., 1], out=np.zeros_like(totals[..., 0]), where=totals[..., 1] > 0)


def _micro_f1(totals: np.ndarray) -> np.ndarray:
    totals = np.asarray(totals, dtype=np.float64)
    tp, fp, fn = totals[..., 0], totals[..., 1], totals[..., 2]
    den = 2 * tp + fp + fn
    return np.divide(2 * tp, den, out=np.zeros_like(den), where=den > 0)


def _means(scores: np.ndarray) -> tuple[np.ndarray, Reduce]:
    return np.stack([np.asarray(scores, np.float64), np.ones(len(scores))], axis=1), _mean


class ReportGeneration(Metric):
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
                    "CheXbert: never compare it with F1-CheXbert numbers. factENTNLI is not implemented yet.")

    def compute(self, ctx: EvaluationContext) -> list[dict[str, Any]]:
        ids, units, hyps, refs = self._pairs(ctx)
        scorers = self.options or list(self.config.get("scorers", PAPER_SCORERS))
        unknown = [s for s in scorers if s not in dict(self.card.options)]
        if unknown:
            raise InputError(f"rrg: unknown scorer(s) {unknown}; choose from {', '.join(dict(self.card.options))}")
        empty = sum(not h.strip() for h in hyps)
        entries = []
        for scorer in scorers:
            key = f"{self.name}[{scorer}]"
            try:
                stats, reduce, details = getattr(self, f"_{scorer}")(ctx, hyps, refs)
            except (CxrgenError, ImportError) as exc:
                entries.append(self.value(key, None, len(ids), 0, error=str(exc)))
                continue
            per_sample = np.asarray(reduce(stats), dtype=np.float64)
            order = np.argsort(per_sample, kind="stable")[:WORST]
            details.update(
                per_sample=dict(zip(ids, np.round(per_sample, 4).tolist())),
                worst=[{"id": ids[i], "value": round(float(per_sample[i]), 4), "hypothesis": hyps[i],
                        "reference": refs[i]} for i in order])
            entry = self.value(key, float(reduce(stats.sum(axis=0))), len(ids), len(ids), details)
            if empty:
                entry["warnings"] = [f"{empty} generated report(s) are empty; they were scored as written "
                                     "(0 on every scorer)"]
            entries.append(self._bootstrap(entry, ctx, units, stats, reduce))
        return entries

    # --- inputs ------------------------------------------------------------------------------
    def _pairs(self, ctx: EvaluationContext) -> tuple[list[str], list[str], list[str], list[str]]:
        """(sample ids, their resampling units, hypotheses, references)."""
        from ..evaluation.subjects import ReportPairsSubject

        subject = ctx.subject
        if isinstance(subject, ReportPairsSubject):
            ids, hyps, refs = subject.pairs()
            return ids, ids, hyps, refs
        records = list(subject.images.records)
        prompts = subject.require_prompts(self.name, records, "generated")
        generator = ctx.use_model("report_generator", subject.report_generator)
        hyps = ctx.generated_reports(records, generator)
        ids = [f"{r.prompt_id}_{r.sample_idx}" for r in records]
        return ids, [r.prompt_id for r in records], hyps, [prompts.prompts[r.prompt_id].text for r in records]

    def _bootstrap(self, entry: dict[str, Any], ctx: EvaluationContext, units: list[str], stats: np.ndarray,
                   reduce: Reduce) -> dict[str, Any]:
        order = sorted(set(units))
        index = {u: i for i, u in enumerate(order)}
        column = np.array([index[u] for u in units])

        def replicates(weights: np.ndarray) -> np.ndarray:
            return reduce(weights[:, column] @ stats)  # every pair weighted by its prompt's multiplicity

        return self.attach_bootstrap(entry, ctx, order, replicates)

    # --- scorers: (per-pair statistics, reduction, details) ------------------------------------
    def _bleu4(self, ctx, hyps, refs):
        return bleu_stats(hyps, refs), bleu_from_stats, {"tokenizer": "whitespace", "reference_length": "closest",
                                                         "definition": "pycocoevalcap corpus BLEU-4"}

    def _rouge_l(self, ctx, hyps, refs):
        return (*_means(rouge_l_scores(hyps, refs)), {"package": "rouge-score", "stemmer": True, "measure": "F"})

    def _bertscore(self, ctx, hyps, refs):
        from ..models.report.bertscore import BERTScore

        cfg = dict(self.config.get("bertscore") or {"model": "distilbert-base-uncased", "num_layers": 5,
                                                    "rescale_with_baseline": True})
        model = ctx.use_model("bertscore", BERTScore(cfg, weights=ctx.options.weights.get("bertscore"),
                                                     device=ctx.options.device, allow_pickle=ctx.options.allow_pickle))
        key = model.score_key()

        def compute():
            return {"prf": model.score(hyps, refs)}

        prf = ctx.memo_arrays("bertscore", compute, model=key, hyps=hyps, refs=refs)["prf"]
        return (*_means(prf[:, 2]), {**model.settings(), "mean_precision": float(prf[:, 0].mean()),
                                     "mean_recall": float(prf[:, 1].mean())})

    def _labels_f1(self, ctx, hyps, refs, labeller_name: str):
        labeller = ctx.use_model(f"labeller:{labeller_name}", LABELLERS.get(labeller_name)(
            ctx.options.weights.get(labeller_name), device=ctx.options.device, allow_pickle=ctx.options.allow_pickle))
        classes = list(self.config.get("f1_classes", F1_CLASSES))
        h = np.isin(ctx.labels(hyps, labeller), (1.0, -1.0)).astype(float)
        r = np.isin(ctx.labels(refs, labeller), (1.0, -1.0)).astype(float)
        counts = np.stack([h * r, h * (1 - r), (1 - h) * r], axis=-1)  # (n, 14, 3): tp, fp, fn per class
        columns = [labeller.classes.index(c) for c in classes]
        per_class_all = _micro_f1(counts.sum(axis=0))
        details = {"labeller": labeller.name, "classes": classes, "label_rule": "positive and uncertain count as 1",
                   "per_class": {c: float(per_class_all[labeller.classes.index(c)]) for c in classes},
                   "micro_f1_14": float(_micro_f1(counts.sum(axis=(0, 1)))),
                   "macro_f1_14": float(per_class_all.mean())}
        if getattr(labeller, "truncated", 0):
            details["truncated_reports"] = int(labeller.truncated)
        return counts[:, columns].sum(axis=1), _micro_f1, details

    def _f1_chexbert(self, ctx, hyps, refs):
        return self._labels_f1(ctx, hyps, refs, "chexbert")

    def _f1_labeller(self, ctx, hyps, refs):
        return self._labels_f1(ctx, hyps, refs, self.config.get("labeller", "rule-based"))

    def _factent(self, ctx, hyps, refs):
        from ..models.report.entities import StanzaRadiologyNER

        ner = ctx.use_model("ner", StanzaRadiologyNER(self.config.get("stanza_resources"), device=ctx.options.device))
        hyp_e, ref_e = ner.entities(hyps), ner.entities(refs)
        return (*_means([entity_f1(a, b) for a, b in zip(hyp_e, ref_e)]),
                {"annotator": "stanza radiology NER", "entities": "single-token ANATOMY/OBSERVATION",
                 "recall": "ViLMedic (hypothesis-side match count)"})

    def _factentnli(self, ctx, hyps, refs):
        raise MetricError("rrg[factentnli] is not implemented in this version: it needs the NLI model of ViLMedic's "
                          "factENT scorer and its sentence pairing; factent, bertscore and the F1 scorers run")

    def _radgraph(self, ctx, hyps, refs):
        from ..models.report.entities import RadGraphAnnotator

        cfg = dict(self.config.get("radgraph") or {})
        level = cfg.get("reward_level", "partial")
        annotator = ctx.use_model("radgraph", RadGraphAnnotator(cfg.get("model_type", "radgraph"),
                                                                cfg.get("lowercase", True), device=ctx.options.device))
        hyp_a, ref_a = annotator.annotate(hyps), annotator.annotate(refs)
        return (*_means([radgraph_reward(a, b, level) for a, b in zip(hyp_a, ref_a)]),
                {"model_type": annotator.model_type, "reward_level": level, "lowercase": annotator.lowercase})
