"""Classifier AUROC on generated images (RoentGen Table 3): a fixed CXR classifier reads one image
per prompt; the prompt's CheXpert labels (under the profile's label policy) are the ground truth.

With a reference (real) image set the value is the "filtered average": the macro AUROC over classes
whose AUROC on the real images exceeds the profile's threshold (0.75). Without one it is the plain
macro average, and says so. A class whose labels take one value has no AUROC: undefined, never 0.5.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..data.labels import LabelPolicy, LabelPolicySettings, policy_for
from ..data.manifest import ImageRecord, PromptSet
from ..errors import InputError
from ..functional.auroc import classwise_auroc, filtered_average, macro_average
from ..results.entry import Entry
from ..settings import Settings, setting
from .base import Metric
from ..card import Card

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext


@dataclass(frozen=True)
class ClassifierAUROCSettings(Settings):
    backbone: str = setting("xrv-densenet121", "the classifier: a backbone with a 'classifier' layer")
    samples: Literal["first"] = setting("first", "one image per prompt: its first sample")
    preprocessing: str | None = setting(None, "the classifier's input (null: the backbone's "
                                              "classifier_preprocessing in the profile)")
    filter_threshold: float = setting(0.75, "filtered average over classes whose AUROC on the real images exceeds "
                                            "it", minimum=0.0, maximum=1.0)
    drop_threshold: float = setting(0.5, "classes whose AUROC on the real images is at most this are flagged "
                                         "dropped (Table 3)", minimum=0.0, maximum=1.0)
    label_policy: LabelPolicySettings | None = setting(None, "uncertain/blank labels (null: uncertain 1, blank 0)")
    classes: dict[str, str] = setting({}, "classifier output → CheXpert label column (empty: the outputs that are "
                                          "CheXpert names)")


class ClassifierAUROC(Metric):
    card = Card(
        name="classifier_auroc", version="1", direction="higher", value_range=(0.0, 1.0), label="AUROC",
        summary="Per-class AUROC of a fixed CXR classifier on generated images vs the prompts' labels.",
        requires=("images", "prompts", "labels", "image_encoder"), section="auroc", order=10,
        per_class=("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum",
                   "Fracture", "Lung Lesion", "Lung Opacity", "Pleural Effusion", "Pleural Other", "Pneumonia",
                   "Pneumothorax", "Support Devices"),
        headline_label="Filtered avg", plot="per_class_heatmap",
        reported="RoentGen filtered average .81; SD 1.4 .50",
        limitations="Only as good as the classifier: classes it reads poorly on real images are filtered out.")
    Settings = ClassifierAUROCSettings

    def preprocessing(self, ctx: EvaluationContext) -> str:
        # the metric's own (roentgen2022 pins pad or crop: docs/roentgen2022.md), else the backbone's
        return self.settings.preprocessing or \
            ctx.profile.backbone(self.settings.backbone)["classifier_preprocessing"]

    def _per_class(self, ctx: EvaluationContext, records: list[ImageRecord], prompts: PromptSet,
                   policy: LabelPolicy, what: str) -> tuple[dict[str, float | None], dict[str, dict[str, int]], tuple]:
        name = self.settings.backbone
        net = ctx.backbone(name)
        scores = ctx.image_features(records, name, self.preprocessing(ctx), "classifier", what)
        outputs = list(net.class_names)
        mapping = self.settings.classes or {o: o for o in outputs}  # classifier output → CheXpert name
        usable = [(out, chex) for out, chex in mapping.items() if chex in prompts.label_names and out in outputs]
        if not usable:
            raise InputError(f"classifier_auroc: {prompts.path} has none of the label columns "
                             f"{sorted(set(mapping.values()))}")
        cols = [outputs.index(out) for out, _ in usable]
        names = [chex for _, chex in usable]
        labels = np.array([[policy.apply(prompts.prompts[r.prompt_id].labels[c]) for c in names] for r in records])
        per_class = classwise_auroc(scores[:, cols], labels, names)
        counts = {c: {"positive": int(np.nansum(labels[:, j] == 1)), "negative": int(np.nansum(labels[:, j] == 0))}
                  for j, c in enumerate(names)}
        return per_class, counts, (scores[:, cols], labels, names)

    def feature_requests(self, ctx: EvaluationContext) -> list[Any]:
        from ..evaluation.requests import FeatureRequest

        subject = ctx.image_subject
        sides = [("generated", subject.images)] + ([("reference", subject.reference)] if subject.reference else [])
        return [FeatureRequest(tuple(images.first_samples()), self.settings.backbone, self.preprocessing(ctx),
                               "classifier", False, side) for side, images in sides]

    def compute(self, ctx: EvaluationContext) -> list[Entry]:
        subject = ctx.image_subject
        given = self.settings.label_policy
        policy = given.policy() if given is not None else policy_for(self.name)
        records = subject.images.first_samples()
        prompts = subject.require_prompts(self.name, records, "generated")
        per_class, counts, (scores, labels, names) = self._per_class(ctx, records, prompts, policy, "generated")
        details: dict[str, Any] = {"per_class": per_class, "label_counts": counts, "label_policy": policy.as_dict(),
                                   "preprocessing": self.preprocessing(ctx),
                                   "undefined_classes": sorted(c for c, v in per_class.items() if v is None)}
        warnings = [f"AUROC undefined for {c}: its labels take a single value in these prompts"
                    for c in details["undefined_classes"]]
        threshold = self.settings.filter_threshold
        averaged: list[str] | None = None  # the classes of the headline average (all defined when None)
        if subject.reference is not None:
            ref_records = subject.reference.first_samples()
            subject.require_prompts(self.name, ref_records, "reference")
            reference, _, _ = self._per_class(ctx, ref_records, prompts, policy, "reference")
            value, classes = filtered_average(per_class, reference, threshold)
            averaged = classes
            drop = self.settings.drop_threshold
            details.update(reference_per_class=reference, filtered_classes=classes, filter_threshold=threshold,
                           average="filtered",
                           dropped_classes=sorted(c for c, v in reference.items() if v is None or v <= drop))
            if value is None:
                warnings.append(f"no class has reference AUROC > {threshold}: filtered average undefined")
        else:
            value = macro_average(per_class)
            details["average"] = "macro over defined classes (no reference set, so no filter)"
            warnings.append("no --reference: value is the plain macro average, not the paper's filtered average")
        entry = self.entry(self.name, value, len(subject.images.prompt_ids), len(records), details, warnings=warnings)

        def replicates(weights: np.ndarray) -> np.ndarray:
            # the filter's classes stay those of the point estimate; replicates resample prompts
            out = []
            for w in weights:
                idx = np.repeat(np.arange(len(w)), w)
                out.append(macro_average(classwise_auroc(scores[idx], labels[idx], names), averaged))
            return np.array([np.nan if v is None else v for v in out])

        return [self.attach_bootstrap(entry, ctx, [r.prompt_id for r in records], replicates)]
