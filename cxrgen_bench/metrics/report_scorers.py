"""The report scorers of RoentGen Table 4, shared by `rrg` (reports a generator writes for generated
images) and `i2t_factual` (the impression a generated image retrieves first).

Each scorer maps (hypotheses, references) to per-pair sufficient statistics and a function of their
(weighted) sums, so one code path gives the corpus value, the per-sample values and every bootstrap
replicate:
- bleu4: the 10 BLEU statistics (`functional.text_overlap`), corpus BLEU-4 of their sums;
- rouge_l, bertscore, factent, radgraph: (score, 1), the mean;
- factentnli: (score, 1), or (0, 0) for a pair without sentences on one side (left out, as ViLMedic does);
- f1_chexbert, f1_labeller: (tp, fp, fn) over the profile's classes, micro-F1 (positive and uncertain
  count as 1); the 14-class micro and macro F1 go into the details;
- radcliq (RadCliQ-v1, lower is better), ratescore: (score, 1), the mean; each is a metric of its own
  (`metrics/radcliq.py`, `metrics/ratescore.py`: their cards say which way is better), keyed by its name.
A scorer whose model is absent raises a clear error (the metric records it per key).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np

from ..errors import CxrgenError
from ..functional.label_f1 import chexpert_f1, label_counts, positive_or_uncertain
from ..functional.report_entities import entity_f1, entity_nli_f1, radgraph_reward
from ..functional.text_overlap import bleu_from_stats, bleu_stats, rouge_l_scores, split_punctuation
from ..registry import LABELLERS
from ..results.entry import Entry
from ..settings import Settings, setting

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext
    from .base import Metric

WORST = 5  # lowest-scoring pairs kept with their texts in the details
F1_CLASSES = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
Reduce = Callable[[np.ndarray], np.ndarray]
Scored = tuple[np.ndarray, Reduce, dict[str, Any]]


@dataclass(frozen=True)
class BERTScoreSettings(Settings):
    model: str = setting("distilbert-base-uncased", "the encoder's name (its folder: --weights bertscore=FOLDER)")
    num_layers: int = setting(5, "the layer whose token states are matched", minimum=1)
    rescale_with_baseline: bool = setting(True, "rescale with bert-score's baseline file for the model")
    folder: str | None = setting(None, "a transformers folder of the model (else --weights or python_package)")
    python_package: str | None = setting(None, "an installed package that carries the model folder")
    path: str = setting("", "the model folder inside python_package")

    def model_config(self) -> dict[str, Any]:
        """What the BERTScore model reads: the settings given, without the empty ones."""
        return {k: v for k, v in self.to_dict().items() if v not in (None, "")}


RADCLIQ_BERTSCORE_SETTINGS = BERTScoreSettings(model="distilroberta-base", num_layers=5, rescale_with_baseline=True)


@dataclass(frozen=True)
class RadGraphSettings(Settings):
    model_type: str = setting("radgraph", "radgraph (the 2022 model) or radgraph-xl (scores differently)")
    reward_level: Literal["simple", "partial", "complete"] = setting("partial", "the RadGraph reward")
    lowercase: bool = setting(False, "annotate lower-cased reports (radgraph 0.1.18 is case-sensitive)")
    cache_dir: str | None = setting(None, "where radgraph keeps its model files")


@dataclass(frozen=True)
class ReportScorerSettings(Settings):
    """What the report scorers read, for the metrics that run several of them (rrg, i2t_factual)."""

    scorers: tuple[str, ...] | None = setting(None, "the scorers, one results key each (null: the metric's own "
                                                    "list); options in the spec (rrg[NAME]) override it")
    bleu_tokens: str = setting("split-punctuation", "BLEU-4 tokens: split-punctuation (punctuation split off, as "
                                                    "pycocoevalcap's tokenizer), anything else: whitespace only")
    bertscore: BERTScoreSettings = setting(BERTScoreSettings(), "BERTScore (also factENTNLI's sentence pairing)")
    f1_classes: tuple[str, ...] = setting(F1_CLASSES, "the CheXpert classes of the label F1")
    labeller: str = setting("rule-based", "the labeller of f1_labeller (f1_chexbert always uses CheXbert)")
    stanza_resources: str | None = setting(None, "Stanza's resources folder (factENT, factENTNLI)")
    nli_folder: str | None = setting(None, "the NLI model of factENTNLI (else --weights factentnli=FOLDER)")
    radgraph: RadGraphSettings = setting(RadGraphSettings(), "RadGraph F1")


def mean_of(totals: np.ndarray) -> np.ndarray:
    totals = np.asarray(totals, dtype=np.float64)
    return np.divide(totals[..., 0], totals[..., 1], out=np.zeros_like(totals[..., 0]), where=totals[..., 1] > 0)


def micro_f1(totals: np.ndarray) -> np.ndarray:
    """`functional.label_f1`'s micro-F1 over summed (tp, fp, fn), vectorised over bootstrap replicates. With no
    positive or uncertain label on either side (every report normal) it is 0/0: NaN, an undefined value,
    never 0 (scikit-learn's `zero_division` default would say 0 and warn; an identical pair of normal
    reports is no failure) and never 1."""
    totals = np.asarray(totals, dtype=np.float64)
    tp, fp, fn = totals[..., 0], totals[..., 1], totals[..., 2]
    den = 2 * tp + fp + fn
    return np.divide(2 * tp, den, out=np.full_like(den, np.nan), where=den > 0)


def _means(scores) -> tuple[np.ndarray, Reduce]:
    return np.stack([np.asarray(scores, np.float64), np.ones(len(scores))], axis=1), mean_of


def bleu4(ctx: EvaluationContext, settings: Any, hyps: list[str], refs: list[str]) -> Scored:
    if settings.bleu_tokens == "split-punctuation":
        hyps, refs = [split_punctuation(h) for h in hyps], [split_punctuation(r) for r in refs]
    return bleu_stats(hyps, refs), bleu_from_stats, {
        "tokens": settings.bleu_tokens, "reference_length": "closest",
        "definition": "pycocoevalcap corpus BLEU-4"}


def rouge_l(ctx: EvaluationContext, settings: Any, hyps: list[str], refs: list[str]) -> Scored:
    return (*_means(rouge_l_scores(hyps, refs)), {"package": "rouge-score", "stemmer": True, "measure": "F"})


def bertscore_model(ctx: EvaluationContext, settings: Any, weights_name: str = "bertscore") -> Any:
    """The profile's BERTScore model (bertscore and factentnli share it; RadCliQ's, another model, is given
    by `--weights radcliq-bertscore=`)."""
    from ..models.report.bertscore import BERTScore

    cfg = settings.bertscore.model_config()
    return ctx.shared_model(weights_name, lambda: BERTScore(cfg, weights=ctx.options.weights.get(weights_name),
                                                            device=ctx.options.device,
                                                            allow_pickle=ctx.options.allow_pickle,
                                                            weights_name=weights_name), **cfg)


def bertscore(ctx: EvaluationContext, settings: Any, hyps: list[str], refs: list[str]) -> Scored:
    model = bertscore_model(ctx, settings)
    key = model.score_key()

    def compute():
        return {"prf": model.score(hyps, refs)}

    prf = ctx.memo_arrays("bertscore", compute, model=key, hyps=hyps, refs=refs)["prf"]
    return (*_means(prf[:, 2]), {**model.settings(), "mean_precision": float(prf[:, 0].mean()),
                                 "mean_recall": float(prf[:, 1].mean())})


def _labels_f1(ctx: EvaluationContext, settings: Any, hyps: list[str], refs: list[str],
               labeller_name: str) -> Scored:
    labeller = ctx.shared_model(f"labeller:{labeller_name}", lambda: LABELLERS.get(labeller_name)(
        ctx.options.weights.get(labeller_name), device=ctx.options.device, allow_pickle=ctx.options.allow_pickle))
    classes = list(settings.f1_classes)
    h = positive_or_uncertain(ctx.labels(hyps, labeller))
    r = positive_or_uncertain(ctx.labels(refs, labeller))
    tp, fp, fn = label_counts(h, r)  # (n, 14) each
    columns = [labeller.classes.index(c) for c in classes]
    every = chexpert_f1(h, r, labeller.classes)  # per class (None where no report has it), micro, macro
    details = {"labeller": labeller.name, "classes": classes, "label_rule": "positive and uncertain count as 1",
               "per_class": {c: every["per_class"][c] for c in classes},
               "micro_f1_14": every["micro_f1"], "macro_f1_14": every["macro_f1"]}
    if getattr(labeller, "truncated", 0):
        details["truncated_reports"] = int(labeller.truncated)
    stats = np.stack([tp[:, columns].sum(axis=1), fp[:, columns].sum(axis=1), fn[:, columns].sum(axis=1)], axis=1)
    return stats, micro_f1, details


def f1_chexbert(ctx: EvaluationContext, settings: Any, hyps: list[str], refs: list[str]) -> Scored:
    return _labels_f1(ctx, settings, hyps, refs, "chexbert")


def f1_labeller(ctx: EvaluationContext, settings: Any, hyps: list[str], refs: list[str]) -> Scored:
    return _labels_f1(ctx, settings, hyps, refs, settings.labeller)


def stanza_ner(ctx: EvaluationContext, settings: Any) -> Any:
    """Stanza's radiology NER (factent and factentnli share it)."""
    from ..models.report.entities import StanzaRadiologyNER

    resources = settings.stanza_resources
    return ctx.shared_model("ner", lambda: StanzaRadiologyNER(resources, device=ctx.options.device),
                            resources=resources)


def factent(ctx: EvaluationContext, settings: Any, hyps: list[str], refs: list[str]) -> Scored:
    ner = stanza_ner(ctx, settings)
    hyp_e, ref_e = ner.entities(hyps), ner.entities(refs)
    return (*_means([entity_f1(a, b) for a, b in zip(hyp_e, ref_e)]),
            {"annotator": "stanza radiology NER", "entities": "single-token ANATOMY/OBSERVATION",
             "recall": "ViLMedic (hypothesis-side match count)"})


def entity_nli_scores(hyps: list[list[tuple[str, list[str]]]], refs: list[list[tuple[str, list[str]]]],
                      similarity: Callable[[list[str], list[str]], np.ndarray],
                      nli: Callable[[list[str], list[str]], list[str]]) -> list[float | None]:
    """factENTNLI per pair from Stanza sentences ((text, entities) per sentence): every sentence with
    entities is paired with its best-`similarity` sentence of the other report and labelled by `nli`
    (itself first); `functional.entity_nli_f1` scores the pair. All sentence pairs of all reports go to
    `similarity` in one call and all labelled pairs to `nli` in one call."""
    cands, others, spans = [], [], []
    for h, r in zip(hyps, refs):
        spans.append((len(cands), len(h), len(r)))
        for hs, _ in h:
            for rs, _ in r:
                cands.append(hs)
                others.append(rs)
    f = np.asarray(similarity(cands, others), dtype=np.float64) if cands else np.zeros(0)
    asks: list[tuple[str, str]] = []
    plans = []
    for (start, nh, nr), h, r in zip(spans, hyps, refs):
        if not nh or not nr:
            plans.append(None)
            continue
        grid = f[start:start + nh * nr].reshape(nh, nr)
        h_idx = [(i, len(asks) + k) for k, i in enumerate(i for i in range(nh) if h[i][1])]
        asks += [(h[i][0], r[int(grid[i].argmax())][0]) for i, _ in h_idx]
        r_idx = [(j, len(asks) + k) for k, j in enumerate(j for j in range(nr) if r[j][1])]
        asks += [(r[j][0], h[int(grid[:, j].argmax())][0]) for j, _ in r_idx]
        plans.append((h_idx, r_idx))
    labels = nli([a for a, _ in asks], [b for _, b in asks]) if asks else []
    out: list[float | None] = []
    for plan, h, r in zip(plans, hyps, refs):
        if plan is None:
            out.append(None)
            continue
        h_labels, r_labels = ["neutral"] * len(h), ["neutral"] * len(r)  # sentences without entities: unused
        for i, at in plan[0]:
            h_labels[i] = labels[at]
        for j, at in plan[1]:
            r_labels[j] = labels[at]
        out.append(entity_nli_f1([e for _, e in h], [e for _, e in r], h_labels, r_labels))
    return out


def factentnli(ctx: EvaluationContext, settings: Any, hyps: list[str], refs: list[str]) -> Scored:
    from ..models.report.entities import RadiologyNLI

    folder = ctx.options.weights.get("factentnli") or settings.nli_folder
    nli = ctx.shared_model("nli", lambda: RadiologyNLI(folder, device=ctx.options.device), folder=folder)
    scorer = bertscore_model(ctx, settings)
    ner = stanza_ner(ctx, settings)
    scores = entity_nli_scores(ner.sentences(hyps), ner.sentences(refs),
                               lambda a, b: scorer.score(a, b)[:, 2], nli.predict)
    stats = np.array([[0.0, 0.0] if v is None else [v, 1.0] for v in scores])
    return stats, mean_of, {"annotator": "stanza radiology NER", "nli": "BERT NLI (model_medrad_19k)",
                            "sentence_pairing": "best BERTScore F1", "pairs_without_sentences": int(
                                sum(v is None for v in scores))}


def radgraph_annotator(ctx: EvaluationContext, cfg: RadGraphSettings) -> Any:
    from ..models.report.entities import RadGraphAnnotator

    keys = {k: v for k, v in cfg.to_dict().items() if k != "reward_level"}  # one annotator serves every reward
    return ctx.shared_model("radgraph", lambda: RadGraphAnnotator(
        cfg.model_type, cfg.lowercase, device=ctx.options.device, cache_dir=cfg.cache_dir), **keys)


def radgraph(ctx: EvaluationContext, settings: Any, hyps: list[str], refs: list[str]) -> Scored:
    level = settings.radgraph.reward_level
    annotator = radgraph_annotator(ctx, settings.radgraph)
    hyp_a, ref_a = annotator.annotate(hyps), annotator.annotate(refs)  # empty reports: no entities, not annotated
    return (*_means([radgraph_reward(a, b, level) for a, b in zip(hyp_a, ref_a)]),
            {"model_type": annotator.model_type, "reward_level": level, "lowercase": annotator.lowercase})


@dataclass(frozen=True)
class RadCliQSettings(Settings):
    # CXR-Report-Metric's BERTScorer: distilroberta-base at bert-score's default layer for it, idf off (its
    # config's USE_IDF = False; RadEval turns idf on), baseline rescaling
    bertscore: BERTScoreSettings = setting(RADCLIQ_BERTSCORE_SETTINGS, "RadCliQ's BERTScore (--weights "
                                                                       "radcliq-bertscore=FOLDER)")
    radgraph: RadGraphSettings = setting(RadGraphSettings(), "the RadGraph annotator (entity and relation F1)")


@dataclass(frozen=True)
class RaTEScoreSettings(Settings):
    affinity: Literal["long", "short"] = setting("long", "the package's type-affinity matrix and negation weight")
    sentence_splitter: Literal["pyrush", "punctuation"] = setting("pyrush", "medspacy's PyRuSH (the package's) or "
                                                                            "a punctuation splitter")
    ner_folder: str | None = setting(None, "RaTE-NER as a transformers folder (else --weights rate-ner=FOLDER)")
    embedding_folder: str | None = setting(None, "BioLORD-2023-C as a transformers folder (else --weights "
                                                 "biolord=FOLDER)")
    ner_sha256: str | None = setting(None, "pinned sha256 of the RaTE-NER folder")
    embedding_sha256: str | None = setting(None, "pinned sha256 of the BioLORD folder")


def radcliq_components(ctx: EvaluationContext, settings: Any, hyps: list[str],
                       refs: list[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """RadCliQ-v1's four per-pair components as CXR-Report-Metric's run_eval.py computes them (each model
    must be present: a missing one is an error naming it, never a component left out)."""
    import re

    from ..functional.report_entities import radgraph_entity_relation_f1
    from ..functional.text_overlap import radcliq_bleu2

    scorer = bertscore_model(ctx, settings, "radcliq-bertscore")
    chexbert = ctx.shared_model("labeller:chexbert", lambda: LABELLERS.get("chexbert")(
        ctx.options.weights.get("chexbert"), device=ctx.options.device, allow_pickle=ctx.options.allow_pickle))
    annotator = radgraph_annotator(ctx, settings.radgraph)

    def compute() -> dict[str, np.ndarray]:
        spaced = [re.sub(r" +", " ", t) for t in hyps], [re.sub(r" +", " ", t) for t in refs]  # as run_eval.py
        h_emb, r_emb = chexbert.embeddings(hyps), chexbert.embeddings(refs)
        norms = np.linalg.norm(h_emb, axis=1) * np.linalg.norm(r_emb, axis=1)
        f1s = np.array([radgraph_entity_relation_f1(a, b) for a, b in zip(annotator.annotate(hyps),
                                                                          annotator.annotate(refs))])
        return {"radgraph_entity": f1s[:, 0], "radgraph_relation": f1s[:, 1], "radgraph": f1s.mean(axis=1),
                "bertscore": scorer.score(*spaced)[:, 2], "bleu2": radcliq_bleu2(hyps, refs),
                "semb": np.divide((h_emb * r_emb).sum(axis=1), norms, out=np.zeros(len(hyps)), where=norms > 0)}

    parts = ctx.memo_arrays("radcliq", compute, bertscore=scorer.score_key(), chexbert=chexbert.key(role="cls"),
                            radgraph=annotator.key(lowercase=annotator.lowercase), hyps=hyps, refs=refs)
    models = {"bertscore": scorer.settings(), "semb": f"CheXbert [CLS] cosine ({chexbert.name})",
              "radgraph": {"model_type": annotator.model_type, "lowercase": annotator.lowercase,
                           "definition": "mean of entity and relation F1"},
              "bleu2": "sentence BLEU-2, NLTK smoothing method1, CXR-Report-Metric tokens"}
    return parts, models


def radcliq(ctx: EvaluationContext, settings: Any, hyps: list[str], refs: list[str]) -> Scored:
    from ..functional.radcliq import radcliq_v1

    parts, models = radcliq_components(ctx, settings, hyps, refs)
    scores = radcliq_v1(parts["radgraph"], parts["bertscore"], parts["semb"], parts["bleu2"])
    means = {k: round(float(v.mean()), 6) for k, v in parts.items()}
    return (*_means(scores), {"definition": "RadCliQ-v1 (CXR-Report-Metric, published scaler and coefficients)",
                              "component_means": means, "components": models})


def ratescore(ctx: EvaluationContext, settings: Any, hyps: list[str], refs: list[str]) -> Scored:
    from ..functional.ratescore import ratescore_pair
    from ..models.report.ratescore import RaTEScoreModels

    cfg = {k: v for k, v in settings.to_dict().items() if v is not None}
    models = ctx.shared_model("ratescore", lambda: RaTEScoreModels(cfg, ctx.options.weights, device=ctx.options.device,
                                                                   allow_pickle=ctx.options.allow_pickle), **cfg)
    affinity = models.settings()["affinity"]

    def compute() -> dict[str, np.ndarray]:
        hyp_e, ref_e = models.entities(hyps), models.entities(refs)
        texts = sorted({t for ents in hyp_e + ref_e for t, _ in ents})
        vectors = dict(zip(texts, models.embed(texts))) if texts else {}

        def arrays(ents):
            return np.array([vectors[t] for t, _ in ents]), [k for _, k in ents]

        scores = [ratescore_pair(*arrays(h), *arrays(r), affinity=affinity) for h, r in zip(hyp_e, ref_e)]
        return {"scores": np.array(scores, dtype=np.float64),
                "entities": np.array([[len(h), len(r)] for h, r in zip(hyp_e, ref_e)], dtype=np.float64)}

    out = ctx.memo_arrays("ratescore", compute, model=models.key(**models.settings()), hyps=hyps, refs=refs)
    without = int((out["entities"].min(axis=1) == 0).sum())
    return (*_means(out["scores"]), {**models.settings(), "pairs_without_entities": without,
                                     "definition": "RaTEScore 0.6.0 (entity F1 over embeddings, type affinity, "
                                                   "negation weight; 0.5 when a report has no entity)"})


SCORERS: dict[str, Callable[..., Scored]] = {
    "bleu4": bleu4, "rouge_l": rouge_l, "bertscore": bertscore, "f1_chexbert": f1_chexbert,
    "f1_labeller": f1_labeller, "factent": factent, "factentnli": factentnli, "radgraph": radgraph,
    "radcliq": radcliq, "ratescore": ratescore}


def score_entries(metric: Metric, ctx: EvaluationContext, scorers: list[str], ids: list[str], units: list[str],
                  hyps: list[str], refs: list[str]) -> list[Entry]:
    """One results entry per scorer (`metric.name[scorer]`): the corpus value, per-sample values and the
    worst pairs in the details, and a bootstrap over `units` (the pairs of a resampled unit move together).
    A scorer that cannot run gives an entry with its reason (with --strict, the error stops the run).
    Pairs a scorer leaves out (factENTNLI: no sentence on one side; statistics (0, 0)) have no
    per-sample value and do not count in n.effective."""
    empty = sum(not h.strip() for h in hyps)
    order = sorted(set(units))
    index = {u: i for i, u in enumerate(order)}
    column = np.array([index[u] for u in units])
    entries = []
    for scorer in scorers:
        key = metric.name if scorer == metric.name else f"{metric.name}[{scorer}]"  # radcliq, ratescore: plain keys
        try:
            stats, reduce, details = SCORERS[scorer](ctx, metric.settings, hyps, refs)
        except Exception as exc:  # noqa: BLE001 — one scorer's model (or plug-in) must not cost the others
            if ctx.strict:
                raise
            message = str(exc) if isinstance(exc, (CxrgenError, ImportError)) else \
                f"{type(exc).__name__} in scorer {scorer}: {exc}"
            ctx.log(f"{key} failed: {message}")
            entries.append(metric.entry(key, None, len(ids), 0, error=message))
            continue
        per_sample = np.asarray(reduce(stats), dtype=np.float64)
        kept = ~((stats[:, 1] == 0) if reduce is mean_of else np.zeros(len(ids), dtype=bool))
        # a pair whose own value is undefined (an F1 with no label on either side) still counts in the corpus sums
        worst = [i for i in np.argsort(per_sample, kind="stable") if kept[i] and np.isfinite(per_sample[i])][:WORST]
        details.update(
            per_sample={i: (round(float(v), 4) if k and np.isfinite(v) else None)
                        for i, v, k in zip(ids, per_sample, kept)},
            worst=[{"id": ids[i], "value": round(float(per_sample[i]), 4), "hypothesis": hyps[i],
                    "reference": refs[i]} for i in worst])
        if not kept.any():
            entries.append(metric.entry(key, None, len(ids), 0, details,
                                        error=f"{scorer}: no pair could be scored (see details)"))
            continue
        corpus = float(reduce(stats.sum(axis=0)))
        if not np.isfinite(corpus):
            entries.append(metric.entry(key, None, len(ids), int(kept.sum()), details, undefined=(
                f"{scorer}: no report, generated or reference, has any of the scored classes positive or uncertain "
                f"({', '.join(details.get('classes', []))}): the micro-F1 is 0/0")))
            continue
        entry = metric.entry(key, corpus, len(ids), int(kept.sum()), details)
        if reduce is mean_of:  # a mean of per-pair scores: the pairs themselves can be compared between systems
            metric.per_item(entry, [ids[i] for i in np.flatnonzero(kept)], per_sample[kept])
        if empty:
            entry.warnings = [f"{empty} generated report(s) are empty; they were scored as written "
                                 + ("(0 on every scorer)" if scorer not in ("radcliq", "ratescore") else
                                    "(no word, no entity: BERTScore, BLEU-2 and RadGraph F1 0; RaTEScore 0.5)")]

        def replicates(weights: np.ndarray, stats=stats, reduce=reduce) -> np.ndarray:
            return reduce(weights[:, column] @ stats)  # every pair weighted by its unit's multiplicity

        entries.append(metric.attach_bootstrap(entry, ctx, order, replicates))
    return entries
