"""Fréchet distance on each backbone the profile names (RoentGen Table 2: XRV, InceptionV3, CLIP).

Card: lower is better; range [0, ∞); requires a reference image set. Under roentgen2022 the
generated side uses one image per prompt (the first sample) and the reference side every image.
Reported in the paper (p19, 5,000 prompts): RoentGen 3.6 (XRV) / 54.9 (Inception) / 2.6 (CLIP).
Limitation: biased by the number of images; compare runs with equal n only.
"""
from __future__ import annotations

from typing import Any

from ..errors import CxrgenError, InputError
from ..cache import key_of
from ..functional.frechet import FrechetResult, frechet_bootstrap_replicates, frechet_distance_from_stats
from ..registry import BACKBONES
from .base import Metric, ScoringContext


class FrechetDistance(Metric):
    name = "fid"
    version = "1"
    direction = "lower"
    value_range = (0.0, None)
    requires = ("reference", "backbone")
    summary = "Fréchet distance between Gaussian fits of generated and reference features, per backbone."

    def backbones(self) -> list[str]:
        chosen = self.options or list(self.config["backbones"])
        unknown = [b for b in chosen if b not in BACKBONES]
        if unknown:
            raise InputError(f"fid: unknown backbone(s) {unknown}; registered: {BACKBONES.names()}")
        return chosen

    def compute(self, ctx: ScoringContext) -> list[dict[str, Any]]:
        if ctx.reference is None:
            raise InputError("fid needs --reference (a folder of real images)")
        generated = ctx.images.first_samples() if self.config.get("samples", "first") == "first" else ctx.images.records
        out = []
        for name in self.backbones():
            try:
                out.append(self._one(ctx, name, generated))
            except CxrgenError as exc:
                # One backbone's missing weights must not discard the others' values.
                if ctx.strict:
                    raise
                ctx.log(f"fid[{name}] failed: {exc}")
                out.append(self.value(f"fid[{name}]", None, len(ctx.images.prompt_ids), 0, backbone=name,
                                      error=str(exc)))
        return out

    def _one(self, ctx: ScoringContext, name: str, generated: list) -> dict[str, Any]:
        cfg = ctx.profile.backbone(name)
        prep, layer = cfg["preprocessing"], cfg["layer"]
        gen_stats, gen_key = ctx.stats(generated, name, prep, layer)
        ref_stats, ref_key = ctx.stats(ctx.reference.records, name, prep, layer)
        # Two d×d eigendecompositions cost seconds at d = 2048: keep the result with the statistics.
        key = key_of(metric=self.name, version=self.version, generated=gen_key, reference=ref_key)
        cached = ctx.cache.get_json("frechet", key)
        result = FrechetResult(**cached) if cached else frechet_distance_from_stats(gen_stats, ref_stats)
        if not cached:
            ctx.cache.put_json("frechet", key, result.as_dict())
        details = result.as_dict()
        details.update(preprocessing=prep, layer=layer, samples=self.config.get("samples", "first"),
                       n_reference=ref_stats.n)
        entry = self.value(f"fid[{name}]", result.value, len(ctx.images.prompt_ids), gen_stats.n, details,
                           backbone=name, warnings=result.warnings)
        if ctx.bootstrap > 0:
            # features come from the cache filled by ctx.stats: no network runs again
            feats = ctx.features(generated, name, prep, layer)
            entry = self.attach_bootstrap(entry, ctx, [r.prompt_id for r in generated],
                                          lambda w: frechet_bootstrap_replicates(feats, ref_stats, w))
            entry["details"]["bootstrap_reference"] = "held fixed (target distribution)"
        return entry
