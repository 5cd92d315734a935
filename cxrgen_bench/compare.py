"""Paired comparison of two results on the same prompts: differences with 95% CIs and p-values from
the bootstrap replicates both runs stored (same seed and prompt units → same resampled prompt sets).

Two results compare only where they were computed the same way: a metric whose profile, or a setting it
reads, differs between the two is refused, naming the setting (`allow_different_settings` compares it
anyway, and says what differs). A bootstrap that collapsed to one value gives no uncertainty estimate:
such a difference is never called significant."""
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
    settings_differ: list[str] | None = None  # what differs in how the two were computed (when compared anyway)

    @property
    def better(self) -> str | None:
        """Which side is better by the metric's direction: "a", "b" or "tie"; None when it cannot be said."""
        if self.difference is None or self.direction not in ("lower", "higher"):
            return None
        if self.difference == 0:
            return "tie"
        return "b" if (self.difference < 0) == (self.direction == "lower") else "a"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "better": self.better}


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
        note = NO_CARD.format(key=key) if card is None else ""
        if result.ci95 is None:
            note = "; ".join(n for n in (note, "no uncertainty estimate: the bootstrap collapsed to one value") if n)
        return MetricComparison(key, direction, a, b, result.difference, list(result.ci95) if result.ci95 else None,
                                result.p_value, True, note, **ar)
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
            seed: int = 0, allow_different_settings: bool = False) -> list[MetricComparison]:
    a, b = ResultView.of(result_a).entries, ResultView.of(result_b).entries
    differ = SettingsDifference.of(result_a.get("profile") or {}, result_b.get("profile") or {})
    keys = sorted(set(a) | set(b))
    rows = []
    for key in keys:
        rows.append(_guarded(key, a.get(key), b.get(key), differ, allow_different_settings, shuffles, seed))
        if key in a and key in b:  # the gaps between groups, where both runs were scored with --by
            for attribute in sorted(a[key].subgroups.keys() & b[key].subgroups.keys()):
                gap = f"{key}@{attribute}"
                rows.append(_guarded(gap, gap_entry(a, gap), gap_entry(b, gap), differ, allow_different_settings))
    return sorted(rows, key=lambda r: r.key)


def _guarded(key: str, ea: Entry | None, eb: Entry | None, differ: "SettingsDifference", allow: bool,
             shuffles: int = 10000, seed: int = 0) -> MetricComparison:
    reasons = differ.for_key(key, ea, eb)
    if reasons and not allow:
        direction, _ = _direction(key)
        return MetricComparison(key, direction, ea.value if ea else None, eb.value if eb else None, None, None, None,
                                False, "not compared: computed with other settings (" + "; ".join(reasons)
                                + "); --allow-different-settings compares them anyway", settings_differ=reasons)
    row = compare_metric(key, ea, eb, shuffles, seed)
    if reasons:
        row.settings_differ = reasons
        row.note = ("settings differ: " + "; ".join(reasons) + (f"; {row.note}" if row.note else ""))
    return row


@dataclass(frozen=True)
class SettingsDifference:
    """What differs between the profiles two results were computed under, and which keys it touches."""

    whole: str  # a difference of the whole profile (name, version, file), "" when none
    overrides: dict[str, tuple[str | None, str | None]]  # setting path → (a's value, b's value)

    @classmethod
    def of(cls, pa: Mapping[str, Any], pb: Mapping[str, Any]) -> "SettingsDifference":
        from .results.store import profile_label

        whole = ""
        if (pa.get("name"), pa.get("version")) != (pb.get("name"), pb.get("version")):
            whole = f"profile {profile_label(pa)} vs {profile_label(pb)}"
        elif pa.get("sha256") and pb.get("sha256") and pa.get("sha256") != pb.get("sha256") and \
                (pa.get("overrides") or []) == (pb.get("overrides") or []):
            whole = f"profile {pa.get('name')} from two different files (sha256 {pa['sha256'][:12]}… vs " \
                    f"{pb['sha256'][:12]}…)"
        sa, sb = _overrides(pa), _overrides(pb)
        changed = {k: (sa.get(k), sb.get(k)) for k in sorted(set(sa) | set(sb)) if sa.get(k) != sb.get(k)}
        return cls(whole, changed)

    def for_key(self, key: str, ea: Entry | None, eb: Entry | None) -> list[str]:
        if self.whole:
            return [self.whole]
        base, _, rest = key.partition("@")
        metric, option = base.split("[", 1)[0], base.partition("[")[2].rstrip("]")
        backbones = {e.backbone for e in (ea, eb) if e is not None and e.backbone} | ({option} if option else set())
        out = []
        for path, (va, vb) in self.overrides.items():
            parts = path.split(".")
            touches = (parts[0] == "metrics" and parts[1] in (metric, _block_of(metric))) or \
                (parts[0] == "backbones" and parts[1] in backbones) or (parts[0] == "subgroups" and rest)
            if touches:
                out.append(f"{path}: {va if va is not None else 'the profile’s'} (a) vs "
                           f"{vb if vb is not None else 'the profile’s'} (b)")
        return out


def _overrides(profile: Mapping[str, Any]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in profile.get("overrides") or [] if "=" in item)


def _block_of(metric: str) -> str:
    from .registry import METRICS

    try:
        return METRICS.get(metric).block_name()
    except Exception:  # noqa: BLE001 — an uninstalled plug-in's metric: its own name
        return metric


def entry_of(entries: Mapping[str, Any], key: str) -> Entry | None:
    """An entry by key, "KEY@ATTRIBUTE" (a gap) and "KEY@ATTRIBUTE.worst" included."""
    typed = read_entries(entries)
    return gap_entry(typed, key) if "@" in key else typed.get(key)
