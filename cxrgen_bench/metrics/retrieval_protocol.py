"""The retrieval protocol shared by image→image and image→text Precision@k and the factual scores of
the top-1 retrieved impression (RoentGen §6.3–6.4, Table 4): which generated images are queries and
which real images or impressions are candidates, chosen reproducibly and recorded in the results.

- A prompt takes part when its report has exactly one certain positive among the profile's classes
  (RoentGen: atelectasis, consolidation, cardiomegaly, edema, fracture, pleural effusion, pneumonia,
  pneumothorax) and no uncertain mention of them; that class is its label.
- Queries: the first sample of each taking-part generated prompt, at most `queries` (200), chosen by
  sha256 of the seed and prompt id (so the choice does not depend on file order).
- Candidates: the taking-part reference images (image→image) or reports (image→text), at most
  `candidates` (400), chosen the same way; with `exclude_query_prompts` the queries' own prompts are
  left out, so a generated image never retrieves its own real counterpart or its own report.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..cache import key_of
from ..data.labels import LabelPolicy, LabelPolicySettings, policy_for
from ..data.manifest import ImageRecord, PromptSet
from ..errors import InputError, MetricError
from ..results.entry import Entry
from ..settings import Settings, setting

ROENTGEN_CLASSES = ("Atelectasis", "Consolidation", "Cardiomegaly", "Edema", "Fracture", "Pleural Effusion",
                    "Pneumonia", "Pneumothorax")


@dataclass(frozen=True)
class RetrievalSettings(Settings):
    backbone: str | None = setting(None, "image→image: the image encoder (a registered or configured backbone)")
    pair: str | None = setting(None, "image→text: the image–text model")
    layer: str | None = setting(None, "image→image: the encoder's layer (null: the backbone's in the profile)")
    preprocessing: str | None = setting(None, "the image input (null: the backbone's in the profile)")
    classes: tuple[str, ...] = setting(ROENTGEN_CLASSES, "the labels; a prompt takes part when its report has "
                                                         "exactly one of them")
    queries: int | None = setting(None, "at most N query images, chosen by hash (null: all)", minimum=1)
    candidates: int | None = setting(None, "at most N candidates, chosen by hash (null: all)", minimum=1)
    exclude_query_prompts: bool = setting(True, "a query never retrieves its own real image or its own report")
    ks: tuple[int, ...] = setting((5, 10, 50), "the k of Precision@k, one results key each")
    seed: int = setting(0, "seed of the query and candidate choice")
    label_policy: LabelPolicySettings | None = setting(None, "uncertain/blank labels (null: uncertain skips the "
                                                             "report, blank is 0)")

    def policy(self) -> LabelPolicy:
        return self.label_policy.policy() if self.label_policy is not None else policy_for("retrieval")


@dataclass
class Selection:
    queries: list[ImageRecord]
    query_labels: list[str]
    candidate_ids: list[str]
    candidate_labels: list[str]
    settings: dict[str, Any]
    candidate_records: list[ImageRecord] | None = None  # the real candidate images (image→image)

    def describe(self) -> dict[str, Any]:
        return {**self.settings, "queries": len(self.queries), "candidates": len(self.candidate_ids),
                "query_ids_sha256": key_of(ids=[r.prompt_id for r in self.queries]),
                "candidate_ids_sha256": key_of(ids=self.candidate_ids)}


def single_labels(prompts: PromptSet, classes: list[str], policy: LabelPolicy) -> dict[str, str]:
    """prompt id → its one label, for the prompts whose report has exactly one certain positive."""
    missing = [c for c in classes if c not in prompts.label_names]
    if len(missing) == len(classes):
        raise InputError(f"{prompts.path} has none of the label columns {classes}")
    usable = [c for c in classes if c not in missing]
    out = {}
    for pid, prompt in prompts.prompts.items():
        values = np.array([policy.apply(prompt.labels[c]) for c in usable])
        if not np.isnan(values).any() and (values == 1.0).sum() == 1:
            out[pid] = usable[int(np.argmax(values == 1.0))]
    return out


def seeded(ids: list[str], n: int | None, seed: int) -> list[str]:
    """At most n ids, chosen by sha256(seed:id); returned in id order."""
    if n is None or len(ids) <= n:
        return sorted(ids)
    return sorted(sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())[:n])


def select(ctx: Any, settings: RetrievalSettings, metric: str, candidates_from: str) -> Selection:
    """Queries among the generated images and candidates among the reference images ("images") or the
    prompts' reports ("reports")."""
    subject = ctx.image_subject
    prompts = subject.require_prompts(metric, subject.images.first_samples(), "generated")
    classes = list(settings.classes)
    policy = settings.policy()
    labels = single_labels(prompts, classes, policy)
    seed = settings.seed
    by_prompt = {r.prompt_id: r for r in subject.images.first_samples()}
    query_ids = seeded([pid for pid in by_prompt if pid in labels], settings.queries, seed)
    if not query_ids:
        raise MetricError(f"{metric}: no generated image's prompt has exactly one of {classes} (single-label "
                          f"reports are the retrieval queries); {len(labels)} prompt(s) of {prompts.path} qualify")
    if candidates_from == "images":
        if subject.reference is None:
            raise InputError(f"{metric} needs --reference (the real candidate images)")
        pool = {r.prompt_id for r in subject.reference.first_samples() if r.prompt_id in labels}
        refs = {r.prompt_id: r for r in subject.reference.first_samples()}
    else:
        pool = set(labels)
    if settings.exclude_query_prompts:
        pool -= set(query_ids)
    candidate_ids = seeded(sorted(pool), settings.candidates, seed + 1)
    ks = list(settings.ks)
    if len(candidate_ids) < max(ks):
        excluded = " (the queries' own prompts left out)" if settings.exclude_query_prompts else ""
        raise MetricError(f"{metric}: Precision@{max(ks)} needs at least {max(ks)} candidates; {len(candidate_ids)} "
                          f"single-label {'reference images' if candidates_from == 'images' else 'reports'} "
                          f"qualify{excluded}")
    recorded = {"classes": classes, "seed": seed, "exclude_query_prompts": settings.exclude_query_prompts,
                "label_policy": policy.as_dict(), "ks": ks}
    return Selection([by_prompt[pid] for pid in query_ids], [labels[pid] for pid in query_ids], candidate_ids,
                     [labels[pid] for pid in candidate_ids], recorded,
                     [refs[pid] for pid in candidate_ids] if candidates_from == "images" else None)


class RetrievalEmbeddings:
    """Query and candidate embeddings of a retrieval metric, and their cosine ranking (memoised, so that
    image→text Precision@k and the factual scores of the top-1 impression rank once)."""

    def __init__(self, ctx: Any, settings: RetrievalSettings, selection: Selection, to_text: bool, metric: str):
        self.ctx, self.settings, self.selection, self.to_text, self.metric = ctx, settings, selection, to_text, metric

    def model(self) -> tuple[str, str, str]:
        """(backbone, preprocessing, layer) of the image side."""
        role = "pair" if self.to_text else "backbone"
        name = getattr(self.settings, role)
        if name is None:
            raise InputError(f"{self.metric}: the profile sets no metrics.{self.metric}.{role} (the "
                             f"{'image–text model' if self.to_text else 'image encoder'})")
        net = self.ctx.backbone(name)
        layer = net.shared_layer if self.to_text else (self.settings.layer or self.ctx.profile.backbone(name)["layer"])
        if self.to_text and layer is None:
            net.text_tower()  # raises: not an image–text model
        preprocessing = self.settings.preprocessing or self.ctx.profile.backbone(name)["preprocessing"]
        return name, preprocessing, layer

    def queries(self) -> np.ndarray:
        name, preprocessing, layer = self.model()
        return self.ctx.image_features(self.selection.queries, name, preprocessing, layer, "queries")

    def candidates(self) -> tuple[np.ndarray, int]:
        name, preprocessing, layer = self.model()
        if not self.to_text:
            return self.ctx.image_features(self.selection.candidate_records, name, preprocessing, layer,
                                           "candidates"), 0
        tower = self.ctx.shared_model("text_tower", self.ctx.backbone(name).text_tower, backbone=name)
        return self.ctx.text_embeddings(self.candidate_texts(), tower, tower.default_extraction)

    def candidate_texts(self) -> list[str]:
        prompts = self.ctx.image_subject.prompts
        return [prompts.prompts[pid].text for pid in self.selection.candidate_ids]

    def ranking(self, k: int) -> tuple[np.ndarray, int]:
        """(queries, k) candidate indices by cosine similarity, and how many candidate texts were truncated."""
        from ..functional.retrieval import rank

        queries = self.queries()
        candidates, truncated = self.candidates()
        return rank(queries, candidates, k), truncated


class RetrievalPrecision:
    """Precision@k entries (one key per k) from a selection and its ranking: per-label details and a
    bootstrap over the query prompts. Mixed into the image→image and image→text metrics."""

    to_text: bool

    def compute(self, ctx: Any) -> list[Entry]:
        from ..functional.retrieval import per_query_precision, precision_from_ranking

        selection = select(ctx, self.settings, self.name, "reports" if self.to_text else "images")
        ks = selection.settings["ks"]
        ranking, truncated = RetrievalEmbeddings(ctx, self.settings, selection, self.to_text, self.name).ranking(max(ks))
        result = precision_from_ranking(ranking, selection.query_labels, selection.candidate_labels, ks)
        absent = sorted(label for label, v in result["per_label"].items() if v["candidates"] == 0)
        warnings = [f"no candidate has the label of these queries (their precision is 0): {', '.join(absent)}"] \
            if absent else []
        if truncated:
            warnings.append(f"{truncated} candidate impression(s) were truncated by the text tower")
        n_prompts = len(ctx.image_subject.images.prompt_ids)
        units = [r.prompt_id for r in selection.queries]
        out = []
        for k in ks:
            per_query = per_query_precision(ranking, selection.query_labels, selection.candidate_labels, k)
            details = {"per_label": {label: {"precision": v[f"precision@{k}"], "queries": v["queries"],
                                             "candidates": v["candidates"]} for label, v in result["per_label"].items()},
                       "selection": selection.describe(), "k": k}
            entry = self.entry(f"{self.name}[{k}]", result[f"precision@{k}"], n_prompts, len(units), details,
                               warnings=list(warnings))
            out.append(self.attach_bootstrap(entry, ctx, units, lambda w, p=per_query: (w @ p) / w.sum(axis=1)))
        return out
