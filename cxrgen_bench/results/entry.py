"""What a metric returns: typed entries, written to and read from the results schema (v2) exactly.

`Entry` is one results key (`fid[xrv-densenet121]`): its value, sample counts, CI, spread, bootstrap
replicates, per-item values, details, per-group breakdown (`--by`), the reason an undefined value has,
the error of a failed metric and warnings. `ResultView` is a stored results object as readers use it
(boards, plots, compare, the gate, sweeps, the demo, the reader analysis): its entries typed, its
identity (name, kind, profile) as attributes.

Round trips are exact: `Entry.from_json(d).to_json() == d` for every schema-v2 entry. A field the file
left out stays out, one it stored as null stays null, and keys this version does not know are kept as
they are, so re-writing a stored result changes no byte (tests/test_entry.py proves it on the committed
leaderboard entries). That is why optional fields remember whether they were given: assigning one marks
it given, and `warn`, `add_subgroups` do the same for the collections.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Mapping

from ..card import base_of


class _Unset:
    """The default of an optional field not given: replaced by the field's empty value after init."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


class Record:
    """Exact JSON round trips for the typed pieces of a results file (see the module docstring).

    Subclasses are dataclasses whose optional fields default to `UNSET`; ``EMPTY`` gives each optional
    field's value when absent, ``NESTED`` the (read, write) converters of fields holding typed records."""

    EMPTY: ClassVar[dict[str, Callable[[], Any]]] = {}
    NESTED: ClassVar[dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]]] = {}

    def __post_init__(self) -> None:
        given = set()
        for name, empty in self.EMPTY.items():
            if getattr(self, name) is UNSET:
                object.__setattr__(self, name, empty())
            else:
                given.add(name)
        for name, (read, _) in self.NESTED.items():  # plain JSON given for a typed field is typed here
            value = getattr(self, name)
            if value is not None and value is not UNSET:
                object.__setattr__(self, name, read(value))
        object.__setattr__(self, "_given", given)
        object.__setattr__(self, "_omitted", set())

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in self.EMPTY and "_given" in self.__dict__:
            self._given.add(name)

    def given(self, name: str) -> bool:
        """Whether an optional field is part of the record (stored, or set since)."""
        return name in self._given

    def to_json(self) -> dict[str, Any]:
        out = dict(self.extra)
        for f in dataclasses.fields(self):
            if f.name == "extra" or f.name in self._omitted or (f.name in self.EMPTY and f.name not in self._given):
                continue
            value = getattr(self, f.name)
            write = self.NESTED.get(f.name, (None, _plain))[1]
            out[f.name] = None if value is None else write(value)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], **defaults: Any):
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs = dict(defaults)
        for name in names & set(data):
            read = cls.NESTED.get(name, (_same, None))[0]
            kwargs[name] = None if data[name] is None else read(data[name])
        record = cls(**kwargs)
        object.__setattr__(record, "extra", {k: v for k, v in data.items() if k not in names})
        record._omitted.update(set(defaults) - set(data))  # filled in for readers, not part of the stored record
        return record


def _same(value: Any) -> Any:
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, tuple):
        return list(value)
    return value


def _records(cls: type) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """Converters of a mapping name → record (reading typed records leaves them as they are)."""
    return (lambda data: {k: v if isinstance(v, cls) else cls.from_json(v) for k, v in data.items()},
            lambda value: {k: v.to_json() for k, v in value.items()})


def _record(cls: type) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """Converters of a field holding one record."""
    return (lambda data: data if isinstance(data, cls) else cls.from_json(data), _plain)


def _pair(data: Any) -> tuple[float, float] | Any:
    return tuple(data) if isinstance(data, (list, tuple)) and len(data) == 2 else data


# --- the pieces of an entry --------------------------------------------------------------------------

@dataclass(eq=False)
class Count(Record):
    """How many units the metric was asked for and how many it used (prompts, images, reports, pairs)."""

    requested: int
    effective: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class Bootstrap(Record):
    """The prompt-level bootstrap of an entry: its replicates (None where undefined) pair runs in compare."""

    resamples: int = UNSET
    seed: int = UNSET
    replicates: list[float | None] = UNSET
    method: str = UNSET
    bias: float | None = UNSET
    defined: int = UNSET
    units_sha256: str = UNSET
    extra: dict[str, Any] = field(default_factory=dict)

    # a results file always holds resamples, seed and replicates (the schema says so); comparisons of
    # entries built in memory may carry only some of them
    EMPTY = {"resamples": lambda: 0, "seed": lambda: None, "replicates": list, "method": str, "bias": lambda: None,
             "defined": lambda: 0, "units_sha256": str}

    def pairs_with(self, other: "Bootstrap") -> bool:
        """Same resampled prompt sets: the same seed, number of resamples and units."""
        return (self.seed, self.resamples, self.units_sha256) == (other.seed, other.resamples, other.units_sha256)


@dataclass(eq=False)
class PerItem(Record):
    """The per-item values whose plain mean is the entry's value, by item id (compare's randomization test)."""

    ids: list[str]
    values: list[float]
    extra: dict[str, Any] = field(default_factory=dict)

    def by_id(self) -> dict[str, float]:
        return dict(zip(self.ids, self.values))


@dataclass(eq=False)
class GroupValue(Record):
    """A metric on one group of patients (`--by`): its value, size, CI, and why it has none."""

    value: float | None = UNSET
    n: int = UNSET
    ci: tuple[float, float] | None = UNSET
    error: str = UNSET
    too_small: bool = UNSET
    unknown: bool = UNSET
    # set-level metrics (`functional/floors.py`): at the view's floor_n images a set, the value against the
    # group's real images, the floor (two real sets of the group), the excess (worse than real: > 0) and its CI
    floor_n: int = UNSET  # images in each set of the floor (and of at_floor_n)
    at_floor_n: float | None = UNSET
    floor: float | None = UNSET
    excess: float | None = UNSET
    excess_ci: tuple[float, float] | None = UNSET
    extra: dict[str, Any] = field(default_factory=dict)

    EMPTY = {"value": lambda: None, "n": lambda: 0, "ci": lambda: None, "error": str, "too_small": bool,
             "unknown": bool, "floor_n": lambda: 0, "at_floor_n": lambda: None, "floor": lambda: None, "excess": lambda: None,
             "excess_ci": lambda: None}
    NESTED = {"ci": (_pair, _plain), "excess_ci": (_pair, _plain)}

    def why_none(self, min_size: int) -> str:
        """Why the group has no value, in a few words (terminal and board alike)."""
        if self.too_small:
            return f"too small (n < {min_size})" if min_size else "too small"
        if self.unknown:
            return "unknown group (attribute missing)"
        if self.error:
            first = self.error.splitlines()[0]
            return "n/a: " + (first if len(first) <= 70 else first[:69] + "…")
        return "n/a: not computed"


@dataclass(eq=False)
class Gap(Record):
    """Best − worst group (never negative), its CI and the replicates compare pairs."""

    value: float | None = UNSET
    ci: tuple[float, float] | None = UNSET
    replicates: list[float | None] | None = UNSET
    basis: str = UNSET  # "excess over floor" (set-level metrics with floors) or "values"
    extra: dict[str, Any] = field(default_factory=dict)

    EMPTY = {"value": lambda: None, "ci": lambda: None, "replicates": lambda: None, "basis": lambda: "values"}
    NESTED = {"ci": (_pair, _plain)}


@dataclass(eq=False)
class SubgroupView(Record):
    """A metric per group of one attribute (sex, age band, finding, ...), with the gap and the worst group."""

    groups: dict[str, GroupValue]
    gap: Gap = UNSET
    worst: str | None = UNSET
    min_size: int = UNSET
    unknown: int = UNSET
    matched_n: int = UNSET
    ranked: list[str] = UNSET
    floor_n: int = UNSET  # the smallest group's floor size (each group's own: GroupValue.floor_n); 0: no floors
    floors: str = UNSET  # how the floors were estimated, or why there are none
    extra: dict[str, Any] = field(default_factory=dict)

    EMPTY = {"gap": Gap, "worst": lambda: None, "min_size": lambda: 0, "unknown": lambda: 0,
             "matched_n": lambda: 0, "ranked": list, "floor_n": lambda: 0, "floors": str}
    NESTED = {"groups": _records(GroupValue), "gap": _record(Gap)}

    def why_no_gap(self) -> str:
        valued = sum(1 for g in self.ranked if g in self.groups and self.groups[g].value is not None)
        return f"no gap: {'one group' if valued == 1 else 'no group'} of n ≥ {self.min_size} with a value"

    def worst_value(self) -> float | None:
        group = self.groups.get(self.worst or "")
        return group.value if group is not None else None


# --- the entry ---------------------------------------------------------------------------------------

@dataclass(eq=False)
class Entry(Record):
    """One results key. ``value`` is None when the metric failed (``error``) or is undefined on these
    data (``undefined`` says why); metadata (direction, range, labels) is on the metric's card."""

    key: str
    metric: str
    version: str
    value: float | None
    n: Count = UNSET
    details: dict[str, Any] = UNSET
    std: float | None = UNSET
    ci95: tuple[float, float] | None = UNSET
    backbone: str = UNSET
    error: str = UNSET
    undefined: str = UNSET
    warnings: list[str] = UNSET
    bootstrap: Bootstrap | None = UNSET
    per_item: PerItem | None = UNSET
    subgroups: dict[str, SubgroupView] = UNSET
    extra: dict[str, Any] = field(default_factory=dict)

    EMPTY = {"n": lambda: None, "details": dict, "std": lambda: None, "ci95": lambda: None, "backbone": str,
             "error": str, "undefined": str, "warnings": list, "bootstrap": lambda: None, "per_item": lambda: None,
             "subgroups": dict}
    NESTED = {"n": _record(Count), "ci95": (_pair, _plain), "bootstrap": _record(Bootstrap),
              "per_item": _record(PerItem), "subgroups": _records(SubgroupView)}

    @classmethod
    def read(cls, key: str, data: Mapping[str, Any]) -> "Entry":
        """The entry stored under ``key``. Files may leave out the copy of the key inside the entry, and
        entries built by hand (tests, plug-ins) the metric's name and version: readers get them filled in
        (the metric from the key), and writing leaves them out again."""
        return cls.from_json(data, key=key, metric=base_of(key), version="", value=None)

    # --- what readers ask --------------------------------------------------------------------------
    @property
    def usable(self) -> bool:
        """A value to show, rank or compare: computed, defined and not failed."""
        return self.value is not None and not self.error

    @property
    def failed(self) -> bool:
        return bool(self.error)

    def replicates(self) -> list[float | None]:
        return list(self.bootstrap.replicates) if self.bootstrap is not None else []

    def per_class(self, field_name: str = "per_class") -> dict[str, Any]:
        """A per-class breakdown the metric keeps in its details (the card names the field)."""
        return dict(self.details.get(field_name) or {})

    def subgroup(self, attribute: str) -> SubgroupView | None:
        return self.subgroups.get(attribute)

    # --- what metrics do ---------------------------------------------------------------------------
    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self._given.add("warnings")

    def add_subgroups(self, attribute: str, view: SubgroupView) -> None:
        self.subgroups[attribute] = view
        self._given.add("subgroups")


def read_entries(metrics: Mapping[str, Any]) -> dict[str, Entry]:
    """A results file's `metrics` mapping, typed (entries already typed pass through)."""
    return {key: value if isinstance(value, Entry) else Entry.read(key, value) for key, value in metrics.items()}


# --- a stored result as readers use it -------------------------------------------------------------

@dataclass(frozen=True)
class ResultView:
    """A results object (schema v2) with typed entries. ``data`` is the object as stored; nothing here
    changes it."""

    data: Mapping[str, Any]
    entries: dict[str, Entry]

    @classmethod
    def of(cls, data: "Mapping[str, Any] | ResultView") -> "ResultView":
        if isinstance(data, ResultView):
            return data
        return cls(data, read_entries(data.get("metrics") or {}))

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def entry(self, key: str) -> Entry | None:
        return self.entries.get(key)

    def usable(self, key: str) -> Entry | None:
        """The entry of ``key`` when it has a value to show, else None."""
        entry = self.entries.get(key)
        return entry if entry is not None and entry.usable else None

    @property
    def name(self) -> str:
        """The entry name a board gives it (leaderboard store), else the model's name."""
        return str(self.data.get("name") or self.model_name)

    @property
    def model_name(self) -> str:
        return str((self.data.get("model") or {}).get("name", ""))

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", "measured"))

    @property
    def measured(self) -> bool:
        return self.kind == "measured"

    @property
    def status(self) -> str:
        return str(self.data.get("status", ""))

    @property
    def profile(self) -> Mapping[str, Any]:
        return self.data.get("profile") or {}

    @property
    def calibration(self) -> bool:
        return bool(self.profile.get("calibration"))

    @property
    def citation(self) -> str:
        return str((self.data.get("source") or {}).get("citation", ""))

    @property
    def subject(self) -> Mapping[str, Any]:
        return self.data.get("subject") or {}

    @property
    def run(self) -> Mapping[str, Any]:
        return self.data.get("run") or {}
