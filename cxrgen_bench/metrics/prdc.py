"""Precision, recall, density and coverage per backbone (Naeem et al. 2020; `functional.prdc`): four
metrics with a card each (`prdc_precision[rad-dino]`, ...), computed together once per backbone and
k (memoised), each with a prompt-level bootstrap CI (the generated side resampled: its k-NN radii from
the resampled set's distinct samples, precision and density weighted by multiplicity). `precision: float32`
computes what the `prdc` package computes on float32 features (CheXGenBench's call): distances rounded to
float32 before they are compared with the radii, so a distance that rounds to its radius falls outside."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from ..card import Card
from ..functional.prdc import prdc
from ..results.entry import Entry
from ..settings import setting
from .per_backbone import PerBackbone, PerBackboneSettings

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext

BACKBONE_OPTIONS = (("rad-dino", "RAD-DINO"), ("inception-v3-fid", "IncepV3"), ("dinov2-vit-l-14", "DINOv2"),
                    ("xrv-densenet121", "XRV"), ("phantom-evaluator", "phantom"))


def _card(measure: str, label: str, summary: str, order: int, high: float | None = 1.0) -> Card:
    return Card(name=f"prdc_{measure}", direction="higher", value_range=(0.0, high), label=label, summary=summary,
                requires=("images", "reference", "image_encoder"), scale="unit", section="beyond_fid", order=order,
                options=BACKBONE_OPTIONS,
                limitations="k-NN balls in feature space: depends on k (profile) and on the encoder; precision and "
                            "density measure fidelity, recall and coverage diversity.")


@dataclass(frozen=True)
class PRDCSettings(PerBackboneSettings):
    k: int = setting(5, "neighbours defining each sample's ball (Naeem et al.: 5)", minimum=1)
    precision: Literal["float64", "float32"] = setting(
        "float64", "of the distances and their comparison with the radii; float32: as the prdc package computes "
                   "them on float32 features (CheXGenBench's call)")


class _PRDC(PerBackbone):
    Settings = PRDCSettings
    measure: ClassVar[str]
    default_backbones = ("inception-v3-fid",)

    def value_of_features(self, generated: np.ndarray, reference: np.ndarray) -> float:
        """This measure between two feature sets, for a group's floor (`functional/floors.py`)."""
        return prdc(reference, generated, self.settings.k, precision=self.settings.precision)[self.measure]

    def one(self, ctx: EvaluationContext, name: str, generated: list) -> Entry:
        gen, ref, details = self.features(ctx, name, generated)
        k, precision = self.settings.k, self.settings.precision
        keys = dict(backbone=name, k=k, precision=precision, details=details, generated=[r.sha256 for r in generated],
                    reference=sorted(r.sha256 for r in self.reference_records(ctx)))
        values = ctx.memo_json("prdc", lambda: prdc(ref, gen, k, precision=precision), **keys)
        details.update(k=k, precision=precision, **{f"all_{m}": v for m, v in values.items()})
        entry = self.entry(f"{self.name}[{name}]", values[self.measure], len(ctx.image_subject.images.prompt_ids),
                           len(gen), details, backbone=name)
        if ctx.bootstrap > 0:
            def all_four(weights: np.ndarray) -> dict[str, np.ndarray]:
                runs = [prdc(ref, gen, k, fake_weights=w, precision=precision) for w in weights]
                return {m: np.array([r[m] for r in runs]) for m in runs[0]}

            def replicates(weights: np.ndarray) -> np.ndarray:
                # the four measures share each replicate's distances: computed once, cached for the others
                return ctx.memo_arrays("prdc-replicates", lambda: all_four(weights), **keys,
                                       weights=hashlib.sha256(weights.tobytes()).hexdigest())[self.measure]

            entry = self.attach_bootstrap(entry, ctx, [r.prompt_id for r in generated], replicates)
        return entry


class PRDCPrecision(_PRDC):
    measure = "precision"
    card = _card("precision", "Precision", "Share of generated samples inside some real sample's k-NN ball.", 21)


class PRDCRecall(_PRDC):
    measure = "recall"
    card = _card("recall", "Recall", "Share of real samples inside some generated sample's k-NN ball.", 22)


class PRDCDensity(_PRDC):
    measure = "density"
    card = _card("density", "Density", "Mean number of real k-NN balls containing a generated sample, over k.", 23,
                 high=None)


class PRDCCoverage(_PRDC):
    measure = "coverage"
    card = _card("coverage", "Coverage", "Share of real samples whose k-NN ball contains a generated sample.", 24)
