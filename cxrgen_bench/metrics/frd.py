"""Fréchet Radiomics Distance per feature extractor (`frd[pyradiomics]`), the definition CheXGenBench's
`metrics/frd.py` computes (FRD v1 of Konz, Osuala et al.): pyradiomics features of every image (cached
per image by `models/image/radiomics.py`), z-scored with the reference set's statistics, features
non-finite in either set dropped, the log of the Fréchet distance of what is left
(`functional.radiomics_distance`). With `match_sizes` (CheXGenBench's), the larger set is first cut to
the smaller one's size by a seeded random draw; the bootstrap CI resamples prompts with the reference
held fixed and repeats every step per replicate."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..card import Card
from ..errors import MetricError
from ..functional.radiomics_distance import frechet_radiomics_distance
from ..results.entry import Entry
from ..settings import setting
from .per_backbone import PerBackbone, PerBackboneSettings

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext


@dataclass(frozen=True)
class FRDSettings(PerBackboneSettings):
    match_sizes: bool = setting(True, "cut the larger set to the smaller's size by a seeded draw (CheXGenBench: "
                                      "true)")
    seed: int = setting(42, "seed of that draw (CheXGenBench's np.random.seed(42))")
    log: bool = setting(True, "report log(FD) (FRD v1: true)")


class FrechetRadiomicsDistance(PerBackbone):
    Settings = FRDSettings
    default_backbones = ("pyradiomics",)
    card = Card(
        name="frd", direction="lower", value_range=(None, None), label="FRD",
        summary="Fréchet Radiomics Distance: log Fréchet distance between Gaussian fits of pyradiomics features "
                "(z-scored with the reference's statistics) of generated and reference images.",
        requires=("images", "reference", "image_encoder"), scale="open", section="beyond_fid", order=16,
        options=(("pyradiomics", "radiomics"),),
        reported="CheXGenBench (Dutt et al. 2025) reports FRD beside FID for its 11 generators",
        limitations="A logarithm: differences, not ratios, compare; hand-crafted texture features of the whole image "
                    "(no lung mask). pyradiomics takes seconds per radiograph on one core.")

    def one(self, ctx: EvaluationContext, name: str, generated: list) -> Entry:
        gen, ref, details = self.features(ctx, name, generated)
        match, seed, log = self.settings.match_sizes, self.settings.seed, self.settings.log
        result = frechet_radiomics_distance(ref, gen, match_sizes=match, seed=seed, log=log)
        result.pop("kept")  # the kept rows themselves: not for the results file
        details.update(result, seed=seed)
        warnings = []
        dropped = result["rows_dropped_nan"]
        if dropped["reference"] or dropped["generated"]:
            warnings.append(f"images whose radiomic features pyradiomics could not all compute were dropped: "
                            f"{dropped['generated']} generated, {dropped['reference']} reference")
        usable = (len(gen) - dropped["generated"], len(ref) - dropped["reference"])  # the cut follows the NaN drop
        if match and usable[0] != usable[1]:
            warnings.append(f"the larger set was cut at random to {min(usable)} images (match_sizes, seed {seed}), "
                            "as CheXGenBench does")
        entry = self.entry(f"frd[{name}]", result["value"], len(ctx.image_subject.images.prompt_ids),
                           result["n"]["generated"], details, backbone=name, warnings=warnings)
        if ctx.bootstrap > 0:
            entry = self.attach_bootstrap(entry, ctx, [r.prompt_id for r in generated],
                                          lambda w: _replicates(ref, gen, w, match, seed, log))
            entry.details["bootstrap_reference"] = "held fixed; every step repeated per replicate"
        return entry


def _replicates(ref: np.ndarray, gen: np.ndarray, weights: np.ndarray, match: bool, seed: int,
                log: bool) -> np.ndarray:
    out = np.empty(len(weights))
    for b, w in enumerate(np.asarray(weights, dtype=np.int64)):
        try:
            out[b] = frechet_radiomics_distance(ref, np.repeat(gen, w, axis=0), match, seed, log)["value"]
        except MetricError:
            out[b] = np.nan
    return out
