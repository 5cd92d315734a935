"""CMMD per backbone (`cmmd[clip-vit-b-32]`; Jayasumana et al. 2024): 1000 × MMD² with a Gaussian RBF
kernel (σ = 10) on unit-normalised CLIP image embeddings, no Gaussian assumption and no sample-size
bias of FID's kind; prompt-level bootstrap CI with the reference held fixed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..card import Card
from ..functional.kernel_distances import CMMD_SCALE, cmmd, mmd2_replicates, rbf_kernel, unit_rows
from ..results.entry import Entry
from ..settings import setting
from .per_backbone import PerBackbone, PerBackboneSettings

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext


@dataclass(frozen=True)
class CMMDSettings(PerBackboneSettings):
    sigma: float = setting(10.0, "bandwidth of the Gaussian RBF kernel (the paper's 10)", positive=True)


class CMMD(PerBackbone):
    Settings = CMMDSettings
    default_backbones = ("clip-vit-b-32",)
    card = Card(
        name="cmmd", direction="lower", value_range=(0.0, None), label="CMMD",
        summary="1000 × MMD² with a Gaussian RBF kernel (σ = 10) between unit-normalised CLIP embeddings of "
                "generated and reference images.",
        requires=("images", "reference", "image_encoder"), scale="unit", section="beyond_fid", order=13,
        options=(("clip-vit-b-32", "CLIP"), ("biomedclip", "BiomedCLIP"), ("phantom-evaluator", "phantom")),
        limitations="Defined on CLIP embeddings (the paper uses ViT-L/14@336); other encoders give other scales.")

    def value_of_features(self, generated: Any, reference: Any) -> float:
        """CMMD between two feature sets, for a group's floor (`functional/floors.py`)."""
        return cmmd(unit_rows(generated), unit_rows(reference), self.settings.sigma)

    def one(self, ctx: EvaluationContext, name: str, generated: list) -> Entry:
        gen, ref, details = self.features(ctx, name, generated)
        gen, ref = unit_rows(gen), unit_rows(ref)
        sigma = self.settings.sigma
        details.update(sigma=sigma, scale=CMMD_SCALE, estimator="V-statistic", normalised=True)
        entry = self.entry(f"cmmd[{name}]", cmmd(gen, ref, sigma), len(ctx.image_subject.images.prompt_ids),
                           len(gen), details, backbone=name)
        if ctx.bootstrap > 0:
            run = mmd2_replicates(gen, ref, lambda a, b: rbf_kernel(a, b, sigma), unbiased=False)
            entry = self.attach_bootstrap(entry, ctx, [r.prompt_id for r in generated],
                                          lambda w: CMMD_SCALE * run(w))
        return entry
