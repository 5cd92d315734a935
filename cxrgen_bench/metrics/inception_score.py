"""Inception Score of the generated images (`inception_score[inception-v3-fid]`): the softmax of each
image's `layer` outputs, exp of the mean KL divergence from the chunk's marginal, on `splits` chunks of
a seeded permutation; value = the mean over chunks, details.std = their std (`functional.inception_score`).

The standard definition reads layer ``logits`` (the 1008 ImageNet classes; needs an Inception file with
its classifier). CheXGenBench's code (torchmetrics `InceptionScore(feature=2048)`) soft-maxes the 2048-d
pool3 activations instead; its profile sets ``layer: pool3`` to follow it, and says so. IS ignores the
reference images and, being a score of the whole set split in chunks, has no per-item values."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..card import Card
from ..errors import CxrgenError, MetricError, ModelUnavailable
from ..functional.inception_score import inception_score
from ..results.entry import Entry
from ..settings import setting
from .per_backbone import PerBackbone, PerBackboneSettings

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext


@dataclass(frozen=True)
class InceptionScoreSettings(PerBackboneSettings):
    layer: str = setting("logits", "the backbone layer soft-maxed (logits: the standard; pool3: CheXGenBench's)")
    splits: int = setting(10, "chunks of the permuted images", minimum=1)
    seed: int = setting(0, "seed of the permutation")
    preprocessing: str | None = setting(None, "the backbone preprocessing (null: the backbone's in the profile)")


class InceptionScore(PerBackbone):
    Settings = InceptionScoreSettings
    card = Card(
        name="inception_score", direction="higher", value_range=(1.0, None), label="IS",
        summary="Inception Score of the generated images: exp of the mean KL divergence between each image's class "
                "distribution and the marginal, mean over chunks.",
        requires=("images", "image_encoder"), scale="open", section="beyond_fid", order=17,
        options=(("inception-v3-fid", "IncepV3"),),
        reported="CheXGenBench reports it for its 11 generators (torchmetrics, feature=2048: the softmax of pool3)",
        limitations="Measures confident, varied ImageNet classes: on radiographs it says little of realism. "
                    "CheXGenBench's values soft-max pool3 activations, not class logits, and are not comparable "
                    "with IS elsewhere. No bootstrap CI (a score of chunks, not of items).")

    def compute(self, ctx: EvaluationContext) -> list[Entry]:
        # PerBackbone's, without its demand for --reference: IS reads the generated images only
        generated = self.generated_records(ctx)
        out = []
        for name in self.backbones(ctx):
            try:
                out.append(self.one(ctx, name, generated))
            except CxrgenError as exc:  # one backbone's failure in its own entry, as PerBackbone records it
                if ctx.strict:
                    raise
                ctx.log(f"{self.name}[{name}] " + (exc.brief if isinstance(exc, ModelUnavailable) else f"failed: {exc}"))
                out.append(self.failed(f"{self.name}[{name}]", len(ctx.image_subject.images.prompt_ids), exc,
                                       backbone=name))
        return out

    def one(self, ctx: EvaluationContext, name: str, generated: list) -> Entry:
        cfg = ctx.profile.backbone(name)
        prep = self.settings.preprocessing or cfg["preprocessing"]
        layer, splits, seed = self.settings.layer, self.settings.splits, self.settings.seed
        n = len(generated)
        size = -(-n // splits)  # torch.chunk's chunk size; the last chunk holds what is left
        last = n - size * (-(-n // size) - 1) if n else 0
        if n < 2 * splits or last < 2:  # a chunk of one image scores exactly 1, whatever it shows
            raise MetricError(f"the Inception Score on {splits} chunks needs at least {2 * splits} images and no "
                              f"chunk of one (chunks of ⌈n/{splits}⌉, the last one the rest); got {n}: generate more, "
                              f"or set --set inception_score.splits=N")
        logits = ctx.image_features(generated, name, prep, layer, "generated")
        order = np.random.RandomState(seed).permutation(len(logits))
        mean, std, per_split = inception_score(logits, splits, order)
        details = {"preprocessing": prep, "layer": layer, "splits": splits, "chunks": len(per_split), "seed": seed,
                   "std": std, "per_split": per_split.tolist(), "samples": self.settings.samples,
                   "selection": self.selection(ctx, generated)}
        warnings = []
        if layer != "logits":
            warnings.append(f"the softmax of layer {layer} (not class logits): CheXGenBench's definition, not "
                            "comparable with the standard Inception Score")
        if len(per_split) < splits:
            warnings.append(f"{len(logits)} images give {len(per_split)} chunks, not {splits}")
        return self.entry(f"inception_score[{name}]", mean, len(ctx.image_subject.images.prompt_ids), len(logits),
                          details, backbone=name, std=std, warnings=warnings)
