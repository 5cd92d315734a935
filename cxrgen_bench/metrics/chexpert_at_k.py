"""CheXpert@k of a text encoder (seeds/001 §2.4, Tables 2–3; RoentGen §8, Table 6): embed every
report, and for each report check whether its k most similar *other* reports share its CheXpert
label. The numerics (blocked top-k, exact tie-breaking) are `functional/chexpert_at_k.py`.

The plain key `chexpert_at_k` holds the first extraction (per class and macro: the layout of Table 6);
when extractions are named (`--extraction cls,mean,pooler`: seeds/001 Table 2), each also gets a key of
its own (`chexpert_at_k[cls]`, ...). Without one, each encoder's default extraction is used. The profile pins k, the similarity (dot in seeds/001's formula, or cosine), the label
policy, the classes and the mode:
- ``single-label`` (roentgen2022): only reports with exactly one certain positive among the classes
  ("No Finding" counted as one) take part, as in the papers ("the proportion of reports that share the
  same CheXpert label"; seeds/001 used 700 impressions, which we read as 50 per class: `per_class_cap`,
  a seeded choice whose ids are hashed into the results);
- ``multi-label``: every report; per class, the reports positive for it.
A class with fewer than k + 1 positive reports is undefined, never 0. Bootstrap CIs resample the
reports and recompute every neighbourhood among the distinct resampled ones (`pool_bootstrap`: a
report drawn twice is not its own neighbour); keeping neighbourhoods fixed would ignore the pool's
own variability (coverage 0.77 at nominal 0.95 in `benchmarks/chexpert_at_k_coverage.py`, against
0.91–0.95 this way).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..cache import key_of
from ..data.labels import CHEXPERT_14, LabelPolicy, LabelPolicySettings, policy_for
from ..errors import InputError, MetricError
from ..functional.text_knowledge import pool_bootstrap, scores_from_neighbours, summarise
from ..functional.topk import nearest_neighbours
from ..results.entry import Entry
from ..settings import Settings, setting
from .base import Metric
from ..card import Card

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext

MODES = ("single-label", "multi-label")
POOL_LIST = 6  # neighbours listed per report, × k, for the resampling bootstrap (about 1.6 k are needed)


@dataclass(frozen=True)
class CheXpertAtKSettings(Settings):
    k: int = setting(10, "neighbours per report (the papers: 10)", minimum=1)
    mode: Literal["single-label", "multi-label"] = setting("multi-label", "which reports take part (see the "
                                                                          "module's docstring)")
    similarity: Literal["cosine", "dot", "jaccard"] = setting("cosine", "of two embeddings (an encoder that "
                                                                        "declares its own wins)")
    label_policy: LabelPolicySettings | None = setting(None, "uncertain/blank labels (null: uncertain skips, "
                                                             "blank is 0)")
    classes: tuple[str, ...] = setting(CHEXPERT_14, "the CheXpert classes scored")
    per_class_cap: int | None = setting(None, "single-label: at most N reports per class, chosen by hash (null: "
                                              "all)", minimum=1)
    seed: int = setting(0, "seed of the per-class choice")
    extraction: tuple[str, ...] | None = setting(None, "how embeddings are read (null: each encoder's default; "
                                                       "--extraction overrides)")


class CheXpertAtK(Metric):
    card = Card(
        name="chexpert_at_k", version="1", direction="higher", value_range=(0.0, 1.0), label="CheXpert@k",
        summary="Share of each report's k nearest other reports (text-encoder embeddings) that share its "
                "CheXpert label; per class and macro.",
        requires=("text_encoder", "reports", "labels"), scale="percent", section="text", order=10,
        per_class=("Fracture", "Pleural Other", "Pneumothorax"), headline_label="Macro", plot="checkpoint_curve",
        options=(("cls", "cls"), ("mean", "mean"), ("pooler", "pooler"), ("model-specific", "model-specific"),
                 ("words", "words")),
        reported="seeds/001 Table 2 (macro, k = 10): CXR-BERT-specialized 61.1 (cls), CLIP 52.9 (pooler); "
                 "RoentGen Table 6: SD 1.4 text encoder 40.5, RoentGen 30.2",
        limitations="Depends on the report set and its labeller; compare encoders on the same reports only.")
    Settings = CheXpertAtKSettings

    def compute(self, ctx: EvaluationContext) -> list[Entry]:
        subject = ctx.subject
        encoder, reports = subject.encoder, subject.reports
        k, mode = self.settings.k, self.settings.mode
        similarity = encoder.similarity or self.settings.similarity
        given = self.settings.label_policy
        policy = given.policy() if given is not None else policy_for(self.name)
        classes = [c for c in self.settings.classes if c in reports.label_names]
        if not classes:
            raise InputError(f"chexpert_at_k: {reports.path} has none of the label columns "
                             f"{list(self.settings.classes)}")
        ids, labels, selection = self._select(reports, classes, policy, mode)
        if len(ids) < k + 1:
            raise MetricError(f"chexpert_at_k needs more than k = {k} reports; {len(ids)} of {len(reports.prompts)} "
                              f"in {reports.path} take part (mode {mode})")
        texts = [reports.prompts[i].text for i in ids]
        extractions = list(subject.extractions or self.settings.extraction or [encoder.default_extraction])
        out = []
        for extraction in extractions:
            encoder.check(extraction)
            vectors, truncated = ctx.text_embeddings(texts, encoder, extraction)
            # longer lists than k: bootstrap replicates take their neighbours among the resampled reports
            listed = min(len(ids) - 1, POOL_LIST * k) if ctx.bootstrap > 0 else k
            with ctx.progress(len(ids), f"chexpert_at_k neighbours ({extraction})", "reports") as bar:
                neighbours = nearest_neighbours(vectors, listed, similarity, progress=bar.update)
            per_report = scores_from_neighbours(neighbours[:, :k], labels)
            summary = summarise(per_report, labels, k, classes)
            few = [f"{c} ({summary['n_per_class'][c]})" for c, v in summary["per_class"].items() if v is None]
            warnings = [f"undefined, fewer than k + 1 = {k + 1} positive reports: {', '.join(few)}"] if few else []
            if _constant(vectors):
                warnings.append("every report has the same embedding (e.g. CLIP's start-of-text state, which its "
                                "causal attention makes identical): neighbours follow report order alone")
            if truncated:
                warnings.append(f"{truncated} report(s) longer than the encoder's {encoder.max_length} tokens were "
                                "truncated")
            details = {"per_class": summary["per_class"], "n_per_class": summary["n_per_class"], "k": k,
                       "similarity": similarity, "mode": mode, "extraction": extraction, "truncated": truncated,
                       "label_policy": policy.as_dict(), "classes": classes, "selection": selection}
            # the plain key (Table 6's layout) for the first extraction; one key per extraction the user named
            keys = ([self.name] if extraction == extractions[0] else []) + (
                [f"{self.name}[{extraction}]"] if subject.extractions else [])
            defined = [j for j, c in enumerate(classes) if summary["per_class"][c] is not None]
            short = [0]

            def replicates(weights: np.ndarray) -> np.ndarray:
                values, cut = pool_bootstrap(neighbours, labels, k, defined, weights)
                short[0] += cut
                return values

            for key in keys:
                undefined = {} if summary["macro"] is not None else {"undefined": (
                    f"the macro average is undefined: no class has more than k = {k} positive reports "
                    f"({', '.join(few)}); lower k with --set chexpert_at_k.k=N or give more reports")}
                entry = self.entry(key, summary["macro"], len(reports.prompts), len(ids), dict(details),
                                   warnings=list(warnings), **undefined)
                entry = self.attach_bootstrap(entry, ctx, ids, replicates)
                if entry.bootstrap is not None:
                    entry.bootstrap.method += (f"; neighbourhoods recomputed among the distinct resampled "
                                               f"reports ({short[0]} query lists short of k)")
                    short[0] = 0
                out.append(entry)
        return out

    def _select(self, reports: Any, classes: list[str], policy: LabelPolicy,
                mode: str) -> tuple[list[str], np.ndarray, dict[str, Any]]:
        ids = list(reports.prompts)  # report order (the CSV's) breaks ties between equal similarities
        labels = np.array([[policy.apply(reports.prompts[i].labels[c]) for c in classes] for i in ids])
        selection: dict[str, Any] = {"reports_in": len(ids)}
        if mode == "single-label":
            single = (np.nansum(labels == 1.0, axis=1) == 1) & ~np.isnan(labels).any(axis=1)
            keep = np.nonzero(single)[0]
            cap = self.settings.per_class_cap
            if cap:
                seed = self.settings.seed
                label_of = np.argmax(labels[keep] == 1.0, axis=1)
                chosen = []
                for cls in np.unique(label_of):  # a seeded choice that does not depend on file order
                    members = keep[label_of == cls]
                    ranked = sorted(members, key=lambda j: hashlib.sha256(f"{seed}:{ids[j]}".encode()).hexdigest())
                    chosen.extend(ranked[:int(cap)])
                keep = np.array(sorted(chosen), dtype=np.int64)
                selection["per_class_cap"] = int(cap)
            ids, labels = [ids[j] for j in keep], labels[keep]
        selection.update(reports_used=len(ids), ids_sha256=key_of(ids=ids))
        return ids, labels, selection


def _constant(vectors: Any) -> bool:
    if hasattr(vectors, "nnz"):
        return False
    return bool(len(vectors) > 1 and (vectors == vectors[0]).all())


