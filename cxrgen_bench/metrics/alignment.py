"""Image–text alignment: how well a generated image matches its own prompt in an image–text model's
space (CheXGenBench reports one with BioViL-T; none of the public suites reports it against real
images). Value: the mean cosine similarity between each generated image (first sample) and its own
prompt; beside it, the same on the real images of those prompts (the reference set), and the share
of generated images whose own prompt ranks in the top k among all the prompts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..card import Card
from ..errors import MetricError
from ..functional.topk import prepare, top_k
from ..results.entry import Entry
from ..settings import Settings, setting
from .base import Metric

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext


@dataclass(frozen=True)
class AlignmentSettings(Settings):
    pair: str | None = setting(None, "the image–text model (cxr-repair in roentgen2022, biovil-t in chexgenbench2025)")
    ks: tuple[int, ...] = setting((1, 5), "own-prompt retrieval rates at these k (details)")
    preprocessing: str | None = setting(None, "the image input (null: the backbone's in the profile)")


class ImageTextAlignment(Metric):
    Settings = AlignmentSettings
    card = Card(
        name="alignment", direction="higher", value_range=(-1.0, 1.0), label="Alignment",
        summary="Mean cosine similarity between a generated image and its own prompt in an image–text model's "
                "space (with the same on real images, and own-prompt retrieval rates).",
        requires=("images", "prompts", "image_encoder"), section="i2t", order=30,
        limitations="Only as good as the image–text model; compare with its value on real images.")

    def compute(self, ctx: EvaluationContext) -> list[Entry]:
        subject = ctx.image_subject
        name = self.required("pair")
        net = ctx.backbone(name)
        tower = ctx.shared_model("text_tower", net.text_tower, backbone=name)
        preprocessing = self.settings.preprocessing or ctx.profile.backbone(name)["preprocessing"]
        records = subject.images.first_samples()
        texts = [subject.prompt_text(r.prompt_id) for r in records]
        if not all(texts):
            raise MetricError("alignment needs the prompt of every image (--prompts, or a prompt column)")
        images = prepare(ctx.image_features(records, name, preprocessing, net.shared_layer, "generated"), "cosine")
        prompts, truncated = ctx.text_embeddings(texts, tower, tower.default_extraction)
        prompts = prepare(prompts, "cosine")
        cosine = (images * prompts).sum(axis=1).astype(np.float64)
        ks = list(self.settings.ks)
        distinct = list(dict.fromkeys(texts))  # a prompt is found when any copy of its text ranks in the top k
        own = np.array([distinct.index(t) for t in texts])
        ranked = top_k(images, prompts[[texts.index(t) for t in distinct]], max(ks), "cosine")
        details: dict[str, Any] = {"pair": name, "text_tower": tower.name, "truncated_prompts": truncated,
                                   **{f"own_prompt_top{k}": float((ranked[:, :k] == own[:, None]).any(axis=1).mean())
                                      for k in ks if k <= ranked.shape[1]}}
        if subject.reference is not None:
            real = [r for r in subject.reference.first_samples() if subject.prompt_text(r.prompt_id)]
            if real:
                real_images = prepare(ctx.image_features(real, name, preprocessing, net.shared_layer, "reference"),
                                      "cosine")
                real_texts, _ = ctx.text_embeddings([subject.prompt_text(r.prompt_id) for r in real], tower,
                                                    tower.default_extraction)
                details["real_mean_cosine"] = float((real_images * prepare(real_texts, "cosine")).sum(axis=1).mean())
                details["real_images"] = len(real)
        entry = self.entry(self.name, float(cosine.mean()), len(subject.images.prompt_ids), len(records), details)
        self.per_item(entry, [r.prompt_id for r in records], cosine)
        return [self.attach_bootstrap(entry, ctx, [r.prompt_id for r in records],
                                      lambda w: (w @ cosine) / w.sum(axis=1))]
