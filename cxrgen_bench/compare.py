"""Paired comparison of two results on the same prompts: differences with 95% CIs and p-values from
the bootstrap replicates both runs stored (same seed and prompt units → same resampled prompt sets)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .functional.bootstrap import paired_difference
from .registry import find_card


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


def usable(entry: dict[str, Any] | None) -> bool:
    return bool(entry) and entry.get("value") is not None and not entry.get("error")


def gap_entry(metrics: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The results entry "KEY@ATTRIBUTE" stands for: the gap between the best and the worst group of a metric
    scored with --by (lower is better), with its replicates, as an entry `compare_metric` reads; and
    "KEY@ATTRIBUTE.worst": the worst group's own value (the metric's direction)."""
    base, _, rest = key.partition("@")
    attribute, _, part = rest.partition(".")
    entry = metrics.get(base) or {}
    view = (entry.get("subgroups") or {}).get(attribute)
    if not view:
        return None
    boot = entry.get("bootstrap") or {}
    if part == "worst":
        worst = view["groups"].get(view.get("worst") or "", {})
        return {"value": worst.get("value"), "version": entry.get("version")}
    gap = view.get("gap") or {}
    out = {"value": gap.get("value"), "version": entry.get("version")}
    if gap.get("replicates") and boot:
        out["bootstrap"] = {"replicates": gap["replicates"], "seed": boot.get("seed"), "resamples": boot.get("resamples"),
                            "units_sha256": boot.get("units_sha256")}
    return out


def _direction(key: str) -> tuple[str, Any]:
    """A gap is better smaller; the worst group reads like its metric."""
    base, at, rest = key.partition("@")
    card = find_card(base)
    if at and not rest.endswith(".worst"):
        return "lower", card
    return (card.direction if card else "?"), card


def compare_metric(key: str, ea: dict[str, Any] | None, eb: dict[str, Any] | None, shuffles: int = 10000,
                   seed: int = 0) -> MetricComparison:
    """b − a with the paired bootstrap (replicates on the same resampled prompts) and, where both entries keep
    their per-item values, the approximate-randomization test (``shuffles`` seeded random swaps)."""
    direction, card = _direction(key)
    if not usable(ea) or not usable(eb):
        missing = "first" if not usable(ea) else "second"
        return MetricComparison(key, direction, (ea or {}).get("value"), (eb or {}).get("value"), None, None, None,
                                False, f"missing or failed in the {missing} file")
    a, b = float(ea["value"]), float(eb["value"])
    if ea.get("version") != eb.get("version"):  # another implementation: no paired statement is sound
        return MetricComparison(key, direction, a, b, b - a, None, None, False,
                                f"metric versions differ (v{ea.get('version')} vs v{eb.get('version')}): "
                                "different implementations, not compared")
    ar = randomization(ea, eb, shuffles, seed)
    ba, bb = ea.get("bootstrap"), eb.get("bootstrap")
    if ba and bb and all(ba.get(k) == bb.get(k) for k in ("seed", "resamples", "units_sha256")):
        ra = np.array([np.nan if v is None else v for v in ba["replicates"]], dtype=float)
        rb = np.array([np.nan if v is None else v for v in bb["replicates"]], dtype=float)
        result = paired_difference(a, b, ra, rb)
        return MetricComparison(key, direction, a, b, result.difference, list(result.ci95) if result.ci95 else None,
                                result.p_value, True, NO_CARD.format(key=key) if card is None else "", **ar)
    note = ("no bootstrap replicates (score with --bootstrap N)" if not (ba and bb)
            else "replicates not paired (different prompts, seed or number of resamples)")
    if card is None:
        note = NO_CARD.format(key=key) + "; " + note
    return MetricComparison(key, direction, a, b, b - a, None, None, False, note, **ar)


def randomization(ea: dict[str, Any], eb: dict[str, Any], shuffles: int = 10000, seed: int = 0) -> dict[str, Any]:
    """The approximate-randomization test of two entries' per-item values, paired by id (items only one side
    has are left out; fewer than two in common: no test)."""
    from .functional.significance import approximate_randomization_test

    pa, pb = ea.get("per_item"), eb.get("per_item")
    if not pa or not pb or shuffles < 1:
        return {}
    va, vb = dict(zip(pa["ids"], pa["values"])), dict(zip(pb["ids"], pb["values"]))
    common = sorted(set(va) & set(vb))
    if len(common) < 2:
        return {}
    test = approximate_randomization_test([va[i] for i in common], [vb[i] for i in common], shuffles, seed)
    return {"ar_p_value": test["p_value"], "ar_mc_error": test["mc_error"], "ar_items": len(common)}


def compare(result_a: dict[str, Any], result_b: dict[str, Any], shuffles: int = 10000, seed: int = 0) -> list[MetricComparison]:
    keys = sorted(set(result_a["metrics"]) | set(result_b["metrics"]))
    rows = [compare_metric(k, result_a["metrics"].get(k), result_b["metrics"].get(k), shuffles, seed) for k in keys]
    for key in keys:  # the gaps between groups, where both runs were scored with --by
        views = ((result_a["metrics"].get(key) or {}).get("subgroups") or {}).keys() & \
            ((result_b["metrics"].get(key) or {}).get("subgroups") or {}).keys()
        for attribute in sorted(views):
            gap = f"{key}@{attribute}"
            rows.append(compare_metric(gap, gap_entry(result_a["metrics"], gap), gap_entry(result_b["metrics"], gap)))
    return rows


def entry_of(metrics: dict[str, Any], key: str) -> dict[str, Any] | None:
    """A results entry by key, "KEY@ATTRIBUTE" (a gap) and "KEY@ATTRIBUTE.worst" included."""
    return gap_entry(metrics, key) if "@" in key else metrics.get(key)
