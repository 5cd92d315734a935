"""The base of every registered metric: its card (`cxrgen_bench/card.py`, the only place its metadata
lives), its typed settings (`cxrgen_bench/settings.py`: what its profile block may hold) and
`compute(ctx)`, which wires inputs from the evaluation context's cached providers to a pure function
of `functional/` and returns one typed entry (`results/entry.py`) per results key."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping

import numpy as np

from ..cache import key_of
from ..card import Card
from ..errors import InputError, MetricError
from ..results.entry import Bootstrap, Count, Entry, PerItem
from ..settings import Settings, parse_settings

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext

BOOTSTRAP_CHUNK = 25  # replicates per progress step


class Metric:
    """A registered metric: its ``card``, its ``Settings`` (the keys its profile block may hold, typed,
    with defaults), and `compute(ctx)`. ``settings`` is the profile's block parsed into ``Settings``
    (a mapping is parsed here: the same checks as the profile loader's); ``options`` come from the
    metric spec (``fid[inception-v3-fid+clip-vit-b-32]``)."""

    card: ClassVar[Card]
    Settings: ClassVar[type[Settings]] = Settings
    # the profile's `metrics:` block this metric reads (a study's metrics share their study's block)
    profile_block: ClassVar[str | None] = None

    def __init__(self, settings: Settings | Mapping[str, Any] | None = None, options: list[str] | None = None):
        self.settings = parse_settings(self.Settings, settings, f"metrics.{self.block_name()}")
        self.options = options or []

    @classmethod
    def block_name(cls) -> str:
        return cls.profile_block or cls.card.name

    @property
    def name(self) -> str:
        return self.card.name

    def required(self, setting_name: str) -> Any:
        """A setting the metric cannot run without (a model name, say), or an error naming the block."""
        value = getattr(self.settings, setting_name)
        if value is None:
            raise InputError(f"{self.name}: the profile sets no metrics.{self.block_name()}.{setting_name} (or "
                             f"--set {self.block_name()}.{setting_name}=VALUE)")
        return value

    def compute(self, ctx: "EvaluationContext") -> list[Entry]:
        raise NotImplementedError

    def feature_requests(self, ctx: "EvaluationContext") -> list[Any]:
        """The image features (`evaluation.context.FeatureRequest`) `compute` will read, declared so the run
        computes them first: each image decoded once for every backbone, shared over torchrun's processes.
        A metric that declares nothing still works; it extracts what it reads when it reads it."""
        return []

    def entry(self, key: str, value: float | None, n_requested: int, n_effective: int,
              details: dict[str, Any] | None = None, **optional: Any) -> Entry:
        """One results key of this metric (its metadata stays on the card). ``optional``: the entry's other
        fields (std, backbone, warnings, error, undefined, ...); each one given is written, null included."""
        return Entry(key=key, metric=self.card.name, version=self.card.version, value=value,
                     n=Count(n_requested, n_effective), details=details or {}, **optional)

    # Plug-ins written against the earlier name keep working.
    value = entry

    def failed(self, key: str, n_requested: int, exc: BaseException, **optional: Any) -> Entry:
        """The entry of a key that could not be computed: no value, the error's message."""
        return self.entry(key, None, n_requested, 0, error=str(exc), **optional)

    def attach_bootstrap(self, entry: Entry, ctx: "EvaluationContext", units: list[str],
                         replicates: Callable[[np.ndarray], np.ndarray]) -> Entry:
        """Add a 95% CI and the replicates (for paired comparisons) to an entry, when asked for.

        ``units`` are the resampled prompt ids in order; ``replicates(weights)`` maps the (B, n)
        multiplicities of `resample_weights` to B values."""
        from ..functional.bootstrap import BootstrapResult, percentile_ci, resample_weights

        if ctx.bootstrap <= 0 or entry.value is None:
            return entry
        weights = resample_weights(len(units), ctx.bootstrap, ctx.bootstrap_seed)
        parts, refused = [], []
        with ctx.progress(len(weights), f"bootstrap {entry.key}", "resamples") as bar:
            for start in range(0, len(weights), BOOTSTRAP_CHUNK):
                parts.append(_replicates_or_nan(replicates, weights[start:start + BOOTSTRAP_CHUNK], refused))
                bar.update(len(parts[-1]))
        values = np.concatenate(parts)
        ci = percentile_ci(values, estimate=entry.value)
        if refused:
            ci = _said_refused(entry, weights, values, refused, ci)
        result = BootstrapResult(entry.value, ci, values, ctx.bootstrap, ctx.bootstrap_seed)
        # re-centring on the estimate can carry an end past what the metric can take (an F1 above 1)
        lo, hi = self.card.value_range
        entry.ci95 = None if result.ci95 is None else (
            max(result.ci95[0], lo) if lo is not None else result.ci95[0],
            min(result.ci95[1], hi) if hi is not None else result.ci95[1])
        entry.bootstrap = Bootstrap.from_json({**result.as_dict(), "units_sha256": key_of(units=units)})
        return entry

    def per_item(self, entry: Entry, ids: list[str], values: Any) -> Entry:
        """Store the per-item values whose plain mean is the entry's value (one per prompt, image or report
        pair, named by ``ids``): `compare` pairs them by id for the approximate-randomization test."""
        v = np.asarray(values, dtype=np.float64)
        keep = np.isfinite(v)
        entry.per_item = PerItem([str(i) for i, k in zip(ids, keep) if k], [float(x) for x in v[keep]])
        return entry


def _replicates_or_nan(replicates: Callable[[np.ndarray], np.ndarray], weights: np.ndarray,
                       refused: list[str]) -> np.ndarray:
    """B values for B resamples. A resample the metric's own size rule refuses (PRDC's k + 1 distinct samples,
    drawn 5 distinct of 8 prompts) is NaN, its message kept in ``refused``: one such resample must not cost
    the value that computes on the whole set, nor the other replicates."""
    try:
        return np.asarray(replicates(weights), dtype=np.float64)
    except (InputError, MetricError) as exc:
        if len(weights) == 1:
            refused.append(str(exc).splitlines()[0])
            return np.array([np.nan])
        return np.concatenate([_replicates_or_nan(replicates, w[None], refused) for w in weights])


MIN_REPLICATES_USED = 0.5  # below this share of computable resamples the CI would describe a biased few


def _said_refused(entry: Entry, weights: np.ndarray, values: np.ndarray, refused: list[str],
                  ci: tuple[float, float] | None) -> tuple[float, float] | None:
    """Count the replicates that could not be computed, say why with the real counts, and keep the CI only
    when most resamples computed."""
    failed = ~np.isfinite(values)
    distinct = (weights[failed] > 0).sum(axis=1)
    used = 1.0 - failed.mean()
    enough = used >= MIN_REPLICATES_USED
    then = f"the CI is from the other {int((~failed).sum())}" if enough else "too few computed for a CI"
    entry.warn(f"bootstrap: {int(failed.sum())} of {len(values)} resamples could not be computed — each drew "
               f"{int(distinct.min())}–{int(distinct.max())} distinct of the {weights.shape[1]} prompts "
               f"({refused[0]}); {then} ({100 * used:.0f} % of resamples used)")
    return ci if enough else None


class StudyMetric(Metric):
    """A metric whose values only a study computes (its card requires "training_budget"); the study that
    computes it lives above the metrics (`cxrgen_bench.studies`) and is named here only by its command."""

    study: ClassVar[str]

    def compute(self, ctx: Any) -> list[Entry]:
        raise MetricError(f"{self.card.name} is computed by a study: cxrgen-bench study {self.study} ...")
