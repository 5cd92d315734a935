"""Fréchet distance on each backbone the profile names (RoentGen Table 2: XRV, InceptionV3, CLIP),
one results key per backbone (`fid[xrv-densenet121]`, ...). Under roentgen2022 the generated side
uses one image per prompt (the first sample) and the reference side every image. The numerics are
`functional/frechet.py`; bootstrap replicates resample prompts and hold the reference fixed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import CxrgenError, InputError
from ..functional.frechet import FrechetResult, frechet_distance_from_stats, frechet_replicates
from ..registry import BACKBONES
from .base import Metric
from .card import Card

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext


class FrechetDistance(Metric):
    card = Card(
        name="fid", version="1", direction="lower", value_range=(0.0, None), label="FID",
        summary="Fréchet distance between Gaussian fits of generated and reference features, per backbone.",
        requires=("images", "reference", "image_encoder"), scale="open", section="fidelity", order=10,
        options=(("xrv-densenet121", "XRV"), ("inception-v3-fid", "IncepV3"), ("clip-vit-b-32", "CLIP"),
                 ("phantom-evaluator", "phantom")),
        reported="RoentGen (p19, 5,000 prompts): 3.6 XRV / 54.9 Inception / 2.6 CLIP; SD 1.4: 47.7 / 275.0 / 52.7",
        limitations="Biased upwards by about d/n: compare runs with equal numbers of images only.")

    def backbones(self, ctx: EvaluationContext) -> list[str]:
        chosen = self.options or list(self.config["backbones"])
        # a registered backbone, or one the profile configures under its own name (`kind: open-clip`)
        unknown = [b for b in chosen if b not in BACKBONES and b not in ctx.profile.backbones]
        if unknown:
            raise InputError(f"fid: unknown backbone(s) {unknown}; registered: {BACKBONES.names()}; configured in "
                             f"profile {ctx.profile.name}: {', '.join(ctx.profile.backbones)}")
        return chosen

    def compute(self, ctx: EvaluationContext) -> list[dict[str, Any]]:
        subject = ctx.image_subject
        if subject.reference is None:
            raise InputError("fid needs --reference (a folder of real images)")
        images = subject.images
        generated = images.first_samples() if self.config.get("samples", "first") == "first" else images.records
        out = []
        for name in self.backbones(ctx):
            try:
                out.append(self._one(ctx, name, generated))
            except CxrgenError as exc:
                # One backbone's missing weights must not discard the others' values.
                if ctx.strict:
                    raise
                ctx.log(f"fid[{name}] failed: {exc}")
                out.append(self.value(f"fid[{name}]", None, len(images.prompt_ids), 0, backbone=name,
                                      error=str(exc)))
        return out

    def _one(self, ctx: EvaluationContext, name: str, generated: list) -> dict[str, Any]:
        subject = ctx.image_subject
        cfg = ctx.profile.backbone(name)
        prep, layer = cfg["preprocessing"], cfg["layer"]
        gen_stats, gen_key = ctx.image_stats(generated, name, prep, layer, "generated")
        ref_stats, ref_key = ctx.image_stats(subject.reference.records, name, prep, layer, "reference")
        # Two d×d eigendecompositions cost seconds at d = 2048: keep the result with the statistics.
        result = FrechetResult(**ctx.memo_json(
            "frechet", lambda: frechet_distance_from_stats(gen_stats, ref_stats).as_dict(),
            metric=self.card.name, version=self.card.version, generated=gen_key, reference=ref_key))
        details = result.as_dict()
        details.update(preprocessing=prep, layer=layer, samples=self.config.get("samples", "first"),
                       n_reference=ref_stats.n)
        entry = self.value(f"fid[{name}]", result.value, len(subject.images.prompt_ids), gen_stats.n, details,
                           backbone=name, warnings=result.warnings)
        if ctx.bootstrap > 0:
            # features come from the cache filled by image_stats: no network runs again
            feats = ctx.image_features(generated, name, prep, layer, "generated")
            entry = self.attach_bootstrap(entry, ctx, [r.prompt_id for r in generated],
                                          frechet_replicates(feats, ref_stats))
            entry["details"]["bootstrap_reference"] = "held fixed (target distribution)"
        return entry
