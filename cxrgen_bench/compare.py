"""Paired comparison of two results on the same prompts: differences with 95% CIs and p-values from
the bootstrap replicates both runs stored (same seed and prompt units → same resampled prompt sets)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from .functional.bootstrap import paired_difference
from .registry import find_card
from .results.entry import Bootstrap, Entry, ResultView, read_entries


@dataclass
class MetricComparison:
    key: str
    direction: str
    a: float | None
    b: float | None
    difference: float | None  # b − a
    ci95: list[float] | None
    p_value: float | None
    paired: bool
    note: str = ""
    # approximate randomization on the per-item values both entries store, paired by item id
    ar_p_value: float | None = None
    ar_mc_error: float | None = None
    ar_items: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


NO_CARD = "no metric card for {key!r} (its plug-in is not installed): direction unknown"


def usable(entry: Entry | None) -> bool:
    return entry is not None and entry.usable


def _typed(entry: Entry | Mapping[str, Any] | None, key: str) -> Entry | None:
    return entry if entry is None or isinstance(entry, Entry) else Entry.read(key, entry)


def gap_entry(entries: Mapping[str, Entry], key: str) -> Entry | None:
    """The entry "KEY@ATTRIBUTE" stands for: the gap between the best and the worst group of a metric scored
    with --by (lower is better), with its replicates, as an entry `compare_metric` reads; and
    "KEY@ATTRIBUTE.worst": the worst group's own value (the metric's direction)."""
    base, _, rest = key.partition("@")
    attribute, _, part = rest.partition(".")
    entry = entries.get(base)
    view = entry.subgroup(attribute) if entry is not None else None
    if view is None:
        return None
    if part == "worst":
        return Entry(key, entry.metric, entry.version, view.worst_value())
    gap = Entry(key, entry.metric, entry.version, view.gap.value)
    boot = entry.bootstrap
    if view.gap.replicates and boot is not None:
        gap.bootstrap = Bootstrap(resamples=boot.resamples, seed=boot.seed, replicates=view.gap.replicates,
                                  units_sha256=boot.units_sha256)
    return gap


def _direction(key: str) -> tuple[str, Any]:
    """A gap is better smaller; the worst group reads like its metric."""
    base, at, rest = key.partition("@")
    card = find_card(base)
    if at and not rest.endswith(".worst"):
        return "lower", card
    return (card.direction if card else "?"), card


def compare_metric(key: str, ea: Entry | Mapping[str, Any] | None, eb: Entry | Mapping[str, Any] | None,
                   shuffles: int = 10000, seed: int = 0) -> MetricComparison:
    """b − a with the paired bootstrap (replicates on the same resampled prompts) and, where both entries keep
    their per-item values, the approximate-randomization test (``shuffles`` seeded random swaps)."""
    ea, eb = _typed(ea, key), _typed(eb, key)
    direction, card = _direction(key)
    if not usable(ea) or not usable(eb):
        missing = "first" if not usable(ea) else "second"
        return MetricComparison(key, direction, ea.value if ea else None, eb.value if eb else None, None, None, None,
                                False, f"missing or failed in the {missing} file")
    a, b = float(ea.value), float(eb.value)
    if ea.version != eb.version:  # another implementation: no paired statement is sound
        return MetricComparison(key, direction, a, b, b - a, None, None, False,
                                f"metric versions differ (v{ea.version} vs v{eb.version}): "
                                "different implementations, not compared")
    ar = randomization(ea, eb, shuffles, seed)
    ba, bb = ea.bootstrap, eb.bootstrap
    if ba is not None and bb is not None and ba.pairs_with(bb):
        ra = np.array([np.nan if v is None else v for v in ba.replicates], dtype=float)
        rb = np.array([np.nan if v is None else v for v in bb.replicates], dtype=float)
        result = paired_difference(a, b, ra, rb)
        return MetricComparison(key, direction, a, b, result.difference, list(result.ci95) if result.ci95 else None,
                                result.p_value, True, NO_CARD.format(key=key) if card is None else "", **ar)
    note = ("no bootstrap replicates (score with --bootstrap N)" if ba is None or bb is None
            else "replicates not paired (different prompts, seed or number of resamples)")
    if card is None:
        note = NO_CARD.format(key=key) + "; " + note
    return MetricComparison(key, direction, a, b, b - a, None, None, False, note, **ar)


def randomization(ea: Entry, eb: Entry, shuffles: int = 10000, seed: int = 0) -> dict[str, Any]:
    """The approximate-randomization test of two entries' per-item values, paired by id (items only one side
    has are left out; fewer than two in common: no test)."""
    from .functional.significance import approximate_randomization_test

    if ea.per_item is None or eb.per_item is None or shuffles < 1:
        return {}
    va, vb = ea.per_item.by_id(), eb.per_item.by_id()
    common = sorted(set(va) & set(vb))
    if len(common) < 2:
        return {}
    test = approximate_randomization_test([va[i] for i in common], [vb[i] for i in common], shuffles, seed)
    return {"ar_p_value": test["p_value"], "ar_mc_error": test["mc_error"], "ar_items": len(common)}


def compare(result_a: Mapping[str, Any], result_b: Mapping[str, Any], shuffles: int = 10000,
            seed: int = 0) -> list[MetricComparison]:
    a, b = ResultView.of(result_a).entries, ResultView.of(result_b).entries
    keys = sorted(set(a) | set(b))
    rows = [compare_metric(k, a.get(k), b.get(k), shuffles, seed) for k in keys]
    for key in keys:  # the gaps between groups, where both runs were scored with --by
        if key in a and key in b:
            for attribute in sorted(a[key].subgroups.keys() & b[key].subgroups.keys()):
                gap = f"{key}@{attribute}"
                rows.append(compare_metric(gap, gap_entry(a, gap), gap_entry(b, gap)))
    return rows


def entry_of(entries: Mapping[str, Any], key: str) -> Entry | None:
    """An entry by key, "KEY@ATTRIBUTE" (a gap) and "KEY@ATTRIBUTE.worst" included."""
    typed = read_entries(entries)
    return gap_entry(typed, key) if "@" in key else typed.get(key)
