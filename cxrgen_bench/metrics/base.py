"""The metric card and the context every metric adapter receives.

Metadata lives on the class (direction, range, what it requires, version) so that the leaderboard
and the gate read it from here and nowhere else. Adapters only wire inputs to `functional/`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np

from ..backbones import build_backbone
from ..backbones.base import Backbone
from ..cache import Cache, key_of
from ..data.manifest import ImageRecord, ImageSet, PromptSet
from ..errors import InputError
from ..extract import extract_features
from ..functional.bootstrap import BootstrapResult, percentile_ci, resample_weights
from ..functional.frechet import FeatureStats
from ..profiles import Profile


@dataclass
class ScoringContext:
    images: ImageSet
    profile: Profile
    cache: Cache
    reference: ImageSet | None = None
    prompts: PromptSet | None = None
    weights: dict[str, str] = field(default_factory=dict)
    allow_pickle: bool = False
    device: str = "cpu"
    batch_size: int = 32
    workers: int | None = None
    strict: bool = False
    bootstrap: int = 0  # resamples for 95% CIs (0: no CIs)
    bootstrap_seed: int = 0
    log: Callable[[str], None] = lambda msg: None
    _backbones: dict[str, Backbone] = field(default_factory=dict)

    def backbone(self, name: str) -> Backbone:
        if name not in self._backbones:
            self.log(f"loading backbone {name}")
            self._backbones[name] = build_backbone(name, self.profile.backbone(name), weights=self.weights.get(name),
                                                   allow_pickle=self.allow_pickle, device=self.device)
        return self._backbones[name]

    def weights_used(self) -> dict[str, Any]:
        return {name: b.provenance for name, b in sorted(self._backbones.items())}

    def features(self, records: list[ImageRecord], backbone: str, preprocessing: str, layer: str) -> np.ndarray:
        net = self.backbone(backbone)
        self.log(f"{backbone}/{layer}: features of {len(records)} image(s)")
        return extract_features(records, net, preprocessing, layer, self.cache, self.batch_size, self.workers)

    def stats(self, records: list[ImageRecord], backbone: str, preprocessing: str,
              layer: str) -> tuple[FeatureStats, str]:
        """Statistics of a set of images and their cache key, cached by the set's content (so reference
        statistics are computed once)."""
        net = self.backbone(backbone)
        key = key_of(extractor=net.extractor_key(preprocessing, layer),
                     images=sorted(r.sha256 for r in records))
        cached = self.cache.get_arrays("stats", key)
        if cached is not None:
            return FeatureStats.from_arrays(cached), key
        stats = FeatureStats.from_features(self.features(records, backbone, preprocessing, layer))
        self.cache.put_arrays("stats", key, stats.to_arrays())
        return stats, key

    def prompt_text(self, prompt_id: str) -> str | None:
        if self.prompts and prompt_id in self.prompts.prompts:
            return self.prompts.prompts[prompt_id].text
        return self.images.prompts.get(prompt_id)

    def require_prompts(self, metric: str, records: list[ImageRecord], what: str) -> PromptSet:
        if self.prompts is None:
            raise InputError(f"{metric} needs --prompts (a CSV with prompt_id, text and CheXpert label columns)")
        missing = [r.prompt_id for r in records if r.prompt_id not in self.prompts.prompts]
        if missing:
            raise InputError(f"{metric}: {len(missing)} {what} image(s) have prompt ids not in {self.prompts.path}, "
                             f"e.g. {missing[:3]} (from {records[[r.prompt_id for r in records].index(missing[0])].path})")
        return self.prompts


class Metric:
    """Base of every registered metric. Subclasses set the card and implement `compute`."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    direction: ClassVar[str]  # "lower" or "higher" is better
    value_range: ClassVar[tuple[float | None, float | None]]
    requires: ClassVar[tuple[str, ...]] = ()  # among: reference, prompts, labels, samples>=2, backbone
    summary: ClassVar[str] = ""

    def __init__(self, config: dict[str, Any], options: list[str] | None = None):
        self.config = config
        self.options = options or []

    @classmethod
    def card(cls) -> dict[str, Any]:
        return {"name": cls.name, "version": cls.version, "direction": cls.direction,
                "range": list(cls.value_range), "requires": list(cls.requires), "summary": cls.summary}

    def compute(self, ctx: ScoringContext) -> list[dict[str, Any]]:
        raise NotImplementedError

    def attach_bootstrap(self, entry: dict[str, Any], ctx: ScoringContext, units: list[str],
                         replicates: Callable[[np.ndarray], np.ndarray]) -> dict[str, Any]:
        """Add a 95% CI and the replicates (for paired comparisons) to an entry, when asked for.

        ``units`` are the resampled prompt ids in order; ``replicates(weights)`` maps the (B, n)
        multiplicities of `resample_weights` to B values."""
        if ctx.bootstrap <= 0 or entry.get("value") is None:
            return entry
        weights = resample_weights(len(units), ctx.bootstrap, ctx.bootstrap_seed)
        values = np.asarray(replicates(weights), dtype=np.float64)
        result = BootstrapResult(entry["value"], percentile_ci(values, estimate=entry["value"]), values, ctx.bootstrap,
                                 ctx.bootstrap_seed)
        entry["ci95"] = None if result.ci95 is None else list(result.ci95)
        entry["bootstrap"] = {**result.as_dict(), "units_sha256": key_of(units=units)}
        return entry

    def value(self, key: str, value: float | None, n_requested: int, n_effective: int,
              details: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        """One entry of the results file's `metrics` mapping."""
        return {"key": key, "metric": self.name, "version": self.version, "direction": self.direction,
                "range": list(self.value_range), "value": value,
                "n": {"requested": n_requested, "effective": n_effective}, **extra, "details": details or {}}
