"""Fréchet distance on each backbone the profile names (RoentGen Table 2: XRV, InceptionV3, CLIP),
one results key per backbone (`fid[xrv-densenet121]`, ...). Under roentgen2022 the generated side
uses one image per prompt (the first sample) and the reference side every image. The numerics are
`functional/frechet.py`; bootstrap replicates resample prompts and hold the reference fixed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..results.entry import Entry

from ..functional.floors import frechet_of_features
from ..functional.frechet import FrechetResult, ReferenceRoot, frechet_replicates, frechet_to_root
from ..errors import MetricError
from ..card import Card
from .per_backbone import PerBackbone

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext


class FrechetDistance(PerBackbone):
    card = Card(
        name="fid", version="1", direction="lower", value_range=(0.0, None), label="FID",
        summary="Fréchet distance between Gaussian fits of generated and reference features, per backbone.",
        requires=("images", "reference", "image_encoder"), scale="open", section="fidelity", order=10,
        options=(("xrv-densenet121", "XRV"), ("inception-v3-fid", "IncepV3"), ("clip-vit-b-32", "CLIP"),
                 ("rad-dino", "RAD-DINO"), ("dinov2-vit-l-14", "DINOv2"), ("phantom-evaluator", "phantom")),
        reported="RoentGen (p19, 5,000 prompts): 3.6 XRV / 54.9 Inception / 2.6 CLIP; SD 1.4: 47.7 / 275.0 / 52.7",
        limitations="Biased upwards by about d/n: compare runs with equal numbers of images only.")
    statistics_of = ("generated", "reference")

    def value_of_features(self, generated: Any, reference: Any) -> float:
        """The distance between two feature sets, for a group's floor (`functional/floors.py`)."""
        return frechet_of_features(generated, reference)

    def one(self, ctx: EvaluationContext, name: str, generated: list) -> Entry:
        subject = ctx.image_subject
        cfg = ctx.profile.backbone(name)
        prep, layer = cfg["preprocessing"], cfg["layer"]
        gen_stats, gen_key = ctx.image_stats(generated, name, prep, layer, "generated")
        ref_stats, ref_key = ctx.image_stats(self.reference_records(ctx), name, prep, layer, "reference")
        # The reference's square root (an eigendecomposition, a second at d = 2048) is kept with its
        # statistics, so each new generated set costs only its own part; the result is kept too.
        def distance() -> dict[str, Any]:
            root = ReferenceRoot.from_arrays(ctx.memo_arrays(
                "frechet-root", lambda: ReferenceRoot.of(ref_stats).to_arrays(), reference=ref_key))
            if gen_stats.n < 2:
                raise MetricError(f"the generated set has {gen_stats.n} image(s); FID needs at least 2")
            return frechet_to_root(gen_stats.mean(), gen_stats.covariance(), root, gen_stats.n).as_dict()

        result = FrechetResult(**ctx.memo_json("frechet", distance, metric=self.card.name, version=self.card.version,
                                               generated=gen_key, reference=ref_key))
        details = result.as_dict()
        details.update(preprocessing=prep, layer=layer, samples=self.settings.samples,
                       n_reference=ref_stats.n, selection=self.selection(ctx, generated))
        entry = self.entry(f"fid[{name}]", result.value, len(subject.images.prompt_ids), gen_stats.n, details,
                           backbone=name, warnings=result.warnings)
        if ctx.bootstrap > 0:
            # features come from the cache filled by image_stats: no network runs again
            feats = ctx.image_features(generated, name, prep, layer, "generated")
            entry = self.attach_bootstrap(entry, ctx, [r.prompt_id for r in generated],
                                          frechet_replicates(feats, ref_stats))
            entry.details["bootstrap_reference"] = "held fixed (target distribution)"
        return entry
