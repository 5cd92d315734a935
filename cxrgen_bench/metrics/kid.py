"""Kernel inception distance per backbone (`kid[inception-v3-fid]`): the unbiased polynomial-kernel
MMD² averaged over random subsets (`functional.kernel_distances`), with its spread over subsets, and
a prompt-level bootstrap CI of the full-sample MMD² (the kernel matrices computed once; the reference
held fixed). The subset size is clipped to the smaller set and the results say so."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..card import Card
from ..functional.kernel_distances import kid_subsets, mmd2_replicates, polynomial_kernel
from ..results.entry import Entry
from ..settings import setting
from .per_backbone import PerBackbone, PerBackboneSettings

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext


@dataclass(frozen=True)
class KIDSettings(PerBackboneSettings):
    subset_size: int | Literal["all"] = setting(1000, "images per subset, clipped to the smaller set (all: the "
                                                      "smaller set's size, CheXGenBench's choice)", minimum=2)
    subsets: int = setting(100, "random subsets averaged", minimum=1)
    seed: int = setting(0, "seed of the subsets' draw")


class KernelInceptionDistance(PerBackbone):
    Settings = KIDSettings
    card = Card(
        name="kid", direction="lower", value_range=(None, None), label="KID",
        summary="Unbiased MMD² with the cubic polynomial kernel between generated and reference features, per "
                "backbone (mean over random subsets).",
        requires=("images", "reference", "image_encoder"), scale="unit", section="beyond_fid", order=12,
        options=(("inception-v3-fid", "IncepV3"), ("rad-dino", "RAD-DINO"), ("dinov2-vit-l-14", "DINOv2"),
                 ("xrv-densenet121", "XRV"), ("clip-vit-b-32", "CLIP"), ("phantom-evaluator", "phantom")),
        reported="CheXGenBench reports KID on Inception and RAD-DINO (with the subset size set to the whole set)",
        limitations="Unbiased, so it can be slightly negative when the sets match; its std over subsets measures "
                    "the subsetting only: use the bootstrap CI for the uncertainty of the estimate.")

    def value_of_features(self, generated: np.ndarray, reference: np.ndarray) -> float:
        """KID between two feature sets with this profile's subsets, for a group's floor; sets no larger than
        the subset size are one subset each (100 draws of the whole set would be one value 100 times)."""
        size = min(len(generated), len(reference))
        whole = self.settings.subset_size == "all" or size <= self.settings.subset_size
        requested = size if whole else self.settings.subset_size
        values, _ = kid_subsets(generated, reference, requested, 1 if whole and len(generated) == len(reference)
                                else self.settings.subsets, self.settings.seed)
        return float(values.mean())

    def one(self, ctx: EvaluationContext, name: str, generated: list) -> Entry:
        gen, ref, details = self.features(ctx, name, generated)
        size_setting = self.settings.subset_size
        requested = min(len(gen), len(ref)) if size_setting == "all" else size_setting
        subsets, seed = self.settings.subsets, self.settings.seed
        values, size = kid_subsets(gen, ref, requested, subsets, seed)
        details.update(std=float(values.std()), subset_size=size, subsets=subsets, seed=seed, kernel="(x·y/d + 1)³")
        warnings = []
        if size < requested:
            warnings.append(f"subset size {requested} clipped to {size} (the smaller set)")
        if size == len(gen) == len(ref):
            warnings.append("every subset is a whole set: the std over subsets is 0 by construction")
        entry = self.entry(f"kid[{name}]", float(values.mean()), len(ctx.image_subject.images.prompt_ids), len(gen),
                           details, backbone=name, std=float(values.std()), warnings=warnings)
        if ctx.bootstrap > 0:
            entry = self.attach_bootstrap(entry, ctx, [r.prompt_id for r in generated],
                                          mmd2_replicates(gen, ref, polynomial_kernel, unbiased=True))
            entry.details["bootstrap_statistic"] = "full-sample unbiased MMD², reference held fixed"
        return entry
