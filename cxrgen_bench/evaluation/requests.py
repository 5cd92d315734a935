"""What a metric declares it will read before the run computes it (`Metric.feature_requests`), and the
cache key of a set's statistics: shared by the context, which serves them, and the sharding, which
computes them over the processes of a torchrun job."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..cache import key_of
from ..data.manifest import ImageRecord


@dataclass(frozen=True)
class FeatureRequest:
    """Features a metric will read: a backbone's rows of ``records`` (and their statistics when ``stats``)."""

    records: tuple[ImageRecord, ...]
    backbone: str
    preprocessing: str
    layer: str
    stats: bool = False
    what: str = ""


def stats_key(extractor: Any, records: list[ImageRecord] | tuple[ImageRecord, ...]) -> str:
    """The cache key of a set's statistics: the extractor and the sorted contents (duplicates count)."""
    return key_of(kind="stats", format="mean-scatter", model=extractor.key, inputs=sorted(r.sha256 for r in records))
