"""The base of every registered metric: its card (metrics/card.py, the only place its metadata
lives) and `compute(ctx)`, which wires inputs from the evaluation context's cached providers to a
pure function of `functional/` and returns one results entry per key."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np

from ..cache import key_of
from ..errors import MetricError
from ..card import Card

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext

BOOTSTRAP_CHUNK = 25  # replicates per progress step


class Metric:
    """``config`` is the profile's block for this metric; ``options`` come from the metric spec
    (``fid[inception-v3-fid+clip-vit-b-32]``)."""

    card: ClassVar[Card]

    def __init__(self, config: dict[str, Any], options: list[str] | None = None):
        self.config = config
        self.options = options or []

    @property
    def name(self) -> str:
        return self.card.name

    def compute(self, ctx: "EvaluationContext") -> list[dict[str, Any]]:
        raise NotImplementedError

    def feature_requests(self, ctx: "EvaluationContext") -> list[Any]:
        """The image features (`evaluation.context.FeatureRequest`) `compute` will read, declared so the run
        computes them first: each image decoded once for every backbone, shared over torchrun's processes.
        A metric that declares nothing still works; it extracts what it reads when it reads it."""
        return []

    def attach_bootstrap(self, entry: dict[str, Any], ctx: "EvaluationContext", units: list[str],
                         replicates: Callable[[np.ndarray], np.ndarray]) -> dict[str, Any]:
        """Add a 95% CI and the replicates (for paired comparisons) to an entry, when asked for.

        ``units`` are the resampled prompt ids in order; ``replicates(weights)`` maps the (B, n)
        multiplicities of `resample_weights` to B values."""
        from ..functional.bootstrap import BootstrapResult, percentile_ci, resample_weights

        if ctx.bootstrap <= 0 or entry.get("value") is None:
            return entry
        weights = resample_weights(len(units), ctx.bootstrap, ctx.bootstrap_seed)
        parts = []
        with ctx.progress(len(weights), f"bootstrap {entry['key']}", "resamples") as bar:
            for start in range(0, len(weights), BOOTSTRAP_CHUNK):
                parts.append(np.asarray(replicates(weights[start:start + BOOTSTRAP_CHUNK]), dtype=np.float64))
                bar.update(len(parts[-1]))
        values = np.concatenate(parts)
        result = BootstrapResult(entry["value"], percentile_ci(values, estimate=entry["value"]), values, ctx.bootstrap,
                                 ctx.bootstrap_seed)
        # re-centring on the estimate can carry an end past what the metric can take (an F1 above 1)
        lo, hi = self.card.value_range
        entry["ci95"] = None if result.ci95 is None else [
            max(result.ci95[0], lo) if lo is not None else result.ci95[0],
            min(result.ci95[1], hi) if hi is not None else result.ci95[1]]
        entry["bootstrap"] = {**result.as_dict(), "units_sha256": key_of(units=units)}
        return entry

    def per_item(self, entry: dict[str, Any], ids: list[str], values: Any) -> dict[str, Any]:
        """Store the per-item values whose plain mean is the entry's value (one per prompt, image or report
        pair, named by ``ids``): `compare` pairs them by id for the approximate-randomization test."""
        v = np.asarray(values, dtype=np.float64)
        keep = np.isfinite(v)
        entry["per_item"] = {"ids": [str(i) for i, k in zip(ids, keep) if k], "values": [float(x) for x in v[keep]]}
        return entry

    def value(self, key: str, value: float | None, n_requested: int, n_effective: int,
              details: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        """One entry of the results file's `metrics` mapping (its metadata stays on the card)."""
        return {"key": key, "metric": self.card.name, "version": self.card.version, "value": value,
                "n": {"requested": n_requested, "effective": n_effective}, **extra, "details": details or {}}


class StudyMetric(Metric):
    """A metric whose values only a study computes (its card requires "training_budget"); the study that
    computes it lives above the metrics (`cxrgen_bench.studies`) and is named here only by its command."""

    study: ClassVar[str]

    def compute(self, ctx: Any) -> list[dict[str, Any]]:
        raise MetricError(f"{self.card.name} is computed by a study: cxrgen-bench study {self.study} ...")
