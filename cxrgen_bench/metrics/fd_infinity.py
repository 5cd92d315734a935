"""FD∞ per backbone (`fd_infinity[inception-v3-fid]`; Chong & Forsyth 2020): the Fréchet distance
at a sweep of generated sample sizes, fitted linearly in 1/N and extrapolated to N → ∞, so that sets
of different sizes compare; the fit's slope, residual and R² are kept. Each size is one replicate of
the bootstrap machinery of `fid` (the reference square root computed once)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..card import Card
from ..functional.frechet import frechet_infinity
from ..results.entry import Entry
from ..settings import setting
from .per_backbone import PerBackbone, PerBackboneSettings

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext


@dataclass(frozen=True)
class FDInfinitySettings(PerBackboneSettings):
    sizes: tuple[int, ...] | None = setting(None, "the generated sample sizes of the sweep (null: `points` sizes "
                                                  "from n/5 to n)")
    points: int = setting(8, "how many sizes the default sweep has", minimum=2)
    seed: int = setting(0, "seed of each size's subset")


class FrechetInfinity(PerBackbone):
    Settings = FDInfinitySettings
    card = Card(
        name="fd_infinity", direction="lower", value_range=(None, None), label="FD∞",
        summary="Fréchet distance extrapolated to infinitely many generated images (fit of FD_N against 1/N).",
        requires=("images", "reference", "image_encoder"), scale="open", section="beyond_fid", order=11,
        options=(("inception-v3-fid", "IncepV3"), ("rad-dino", "RAD-DINO"), ("xrv-densenet121", "XRV"),
                 ("clip-vit-b-32", "CLIP"), ("phantom-evaluator", "phantom")),
        limitations="An extrapolation: check the fit (details.r2, residual_rms); the reference side keeps its own "
                    "finite-sample bias. No bootstrap CI (each replicate would be a sweep).")
    statistics_of = ("reference",)

    def one(self, ctx: EvaluationContext, name: str, generated: list) -> Entry:
        cfg = ctx.profile.backbone(name)
        prep, layer = cfg["preprocessing"], cfg["layer"]
        ref_stats, _ = ctx.image_stats(self.reference_records(ctx), name, prep, layer, "reference")
        gen = ctx.image_features(generated, name, prep, layer, "generated")
        sizes = list(self.settings.sizes) if self.settings.sizes is not None else None
        fit = frechet_infinity(gen, ref_stats, sizes, self.settings.points, self.settings.seed)
        details = {**fit, "preprocessing": prep, "layer": layer, "n_reference": ref_stats.n,
                   "selection": self.selection(ctx, generated)}
        details.pop("value")
        warnings = [f"the 1/N fit explains only {fit['r2']:.2f} of the variation over sizes"] if fit["r2"] < 0.8 else []
        return self.entry(f"fd_infinity[{name}]", fit["value"], len(ctx.image_subject.images.prompt_ids), len(gen),
                          details, backbone=name, warnings=warnings)
