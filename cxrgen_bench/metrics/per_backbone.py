"""The shape every distribution metric on image features shares (fid, kid, cmmd, fd_infinity, the
PRDC four): one results key per backbone (`kid[rad-dino]`), backbones from the options or the
profile's list, the generated side one image per prompt (`samples: first`, as roentgen2022) or every
image, the reference side every image, each side capped at `max_images` in sorted-id order (the
official RoentGen script takes the first 5,000 of each list), and one backbone's failure (missing
weights) recorded in its own entry without costing the others."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..data.images import alpha_rule
from ..errors import CxrgenError, InputError, ModelUnavailable
from ..registry import BACKBONES
from ..results.entry import Entry
from ..settings import Settings, setting
from .base import Metric

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext


@dataclass(frozen=True)
class PerBackboneSettings(Settings):
    backbones: tuple[str, ...] | None = setting(None, "the backbones, one results key each (null: the metric's own "
                                                      "default); options in the spec (fid[NAME]) override it")
    samples: Literal["first", "all"] = setting("first", "generated side: the first sample of each prompt, or every "
                                                        "image")
    max_images: int | None = setting(None, "use at most the first N images of each side, sorted by (prompt id, "
                                           "sample) (null: all)", minimum=1)


class PerBackbone(Metric):
    Settings = PerBackboneSettings
    default_backbones: tuple[str, ...] = ("inception-v3-fid",)
    statistics_of: tuple[str, ...] = ()  # the sides ("generated", "reference") whose statistics compute reads

    def backbones(self, ctx: EvaluationContext) -> list[str]:
        chosen = self.options or list(self.settings.backbones or self.default_backbones)
        # a registered backbone, or one the profile configures under its own name (`kind: open-clip`)
        unknown = [b for b in chosen if b not in BACKBONES and b not in ctx.profile.backbones]
        if unknown:
            raise InputError(f"{self.name}: unknown backbone(s) {unknown}; registered: {BACKBONES.names()}; "
                             f"configured in profile {ctx.profile.name}: {', '.join(ctx.profile.backbones)}")
        return chosen

    def generated_records(self, ctx: EvaluationContext) -> list:
        images = ctx.image_subject.images
        return self._capped(images.first_samples() if self.settings.samples == "first" else images.records)

    def reference_records(self, ctx: EvaluationContext) -> list:
        return self._capped(ctx.image_subject.reference.records)

    def _capped(self, records: list) -> list:
        cap = self.settings.max_images
        return records if cap is None else records[:cap]  # records come sorted by (prompt id, sample)

    def selection(self, ctx: EvaluationContext, generated: list) -> dict[str, Any]:
        """Which images were used, for the results: the rule, the cap and the counts on each side."""
        images, reference = ctx.image_subject.images, ctx.image_subject.reference
        available = len(images.prompt_ids) if self.settings.samples == "first" else len(images.records)
        return {"samples": self.settings.samples, "max_images": self.settings.max_images,
                "order": "sorted by (prompt id, sample index)",
                "generated": {"available": available, "used": len(generated)},
                "reference": {"available": len(reference.records), "used": len(self.reference_records(ctx))}}

    def compute(self, ctx: EvaluationContext) -> list[Entry]:
        subject = ctx.image_subject
        if subject.reference is None:
            raise InputError(f"{self.name} needs --reference (a folder of real images)")
        generated = self.generated_records(ctx)
        out = []
        for name in self.backbones(ctx):
            try:
                out.append(self.one(ctx, name, generated))
            except CxrgenError as exc:
                if ctx.strict:
                    raise
                ctx.log(f"{self.name}[{name}] " + (exc.brief if isinstance(exc, ModelUnavailable) else f"failed: {exc}"))
                out.append(self.failed(f"{self.name}[{name}]", len(subject.images.prompt_ids), exc, backbone=name))
        return out

    def one(self, ctx: EvaluationContext, name: str, generated: list) -> Entry:
        raise NotImplementedError

    def feature_requests(self, ctx: EvaluationContext) -> list[Any]:
        from ..evaluation.requests import FeatureRequest

        if getattr(ctx.subject, "reference", None) is None:
            return []
        sides = {"generated": tuple(self.generated_records(ctx)), "reference": tuple(self.reference_records(ctx))}
        out = []
        for name in self.backbones(ctx):
            cfg = ctx.profile.backbone(name)
            out += [FeatureRequest(records, name, cfg["preprocessing"], cfg["layer"], side in self.statistics_of, side)
                    for side, records in sides.items()]
        return out

    def features(self, ctx: EvaluationContext, name: str, generated: list) -> tuple[np.ndarray, np.ndarray, dict]:
        """(generated, reference) features of a backbone from the cache, and what produced them."""
        cfg = ctx.profile.backbone(name)
        prep, layer = cfg["preprocessing"], cfg["layer"]
        gen = ctx.image_features(generated, name, prep, layer, "generated")
        ref = ctx.image_features(self.reference_records(ctx), name, prep, layer, "reference")
        return gen, ref, {"preprocessing": prep, "alpha": alpha_rule(cfg, name), "layer": layer,
                          "samples": self.settings.samples,
                          "n_reference": len(ref), "selection": self.selection(ctx, generated)}
