"""Numbers typed in from papers (leaderboard/reported/*.yaml) → results entries of kind "reported"."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..registry import NoCardError, card_for
from ..results.store import SCHEMA_VERSION
from ..version import __version__
from ..yamlfile import load_yaml

UNITS = {"fraction": 1.0, "percent": 100.0}  # a table's `units`: how the paper printed its numbers (divisor)


def _put(metrics: dict[str, dict[str, Any]], column: str, value: float | None, divisor: float,
         profile: str) -> None:
    """One typed-in number into its results entry: "KEY", "KEY.std" or "KEY.CLASS" (a per-class value
    of a metric whose card has a per-class breakdown). Stored as fractions, like measured values."""
    if value is None:
        return
    head, dot, tail = column.partition(".")
    number = float(value) / divisor
    if dot and tail == "std":
        metrics.setdefault(head, _entry(head, profile))["std"] = number
    elif dot:
        card = card_for(head)
        if not card.per_class:
            raise NoCardError(f"metric {head!r} has no per-class breakdown on its card, so {column!r} has no place")
        metrics.setdefault(head, _entry(head, profile))["details"].setdefault(card.per_class_field, {})[tail] = number
    else:
        entry = metrics.setdefault(column, _entry(column, profile))
        if entry["value"] is not None and entry["value"] != number:
            raise NoCardError(f"{column} of this row was already given as {entry['value']!r} by another table of "
                              "the file: one model, one number per key")
        entry["value"] = number


def _entry(key: str, profile: str) -> dict[str, Any]:
    card_for(key)  # a typed-in column must name a metric with a card (a typo fails here, naming the key)
    _check_option(key, profile)
    return {"key": key, "metric": key.split("[", 1)[0], "version": "reported", "value": None, "details": {}}


def _check_option(key: str, profile: str) -> None:
    """"fid[typo]": the metric exists but takes no such option (a backbone of the profile, a scorer, a k)."""
    from ..errors import CxrgenError
    from ..profiles import get_profile
    from ..scoring.checks import check_metric_options

    try:
        known: Any = get_profile(profile)
    except CxrgenError:  # a paper's own protocol, not a registered profile: registered options only
        known = "roentgen2022"
    try:
        check_metric_options([key], known)
    except InputError as exc:
        raise NoCardError(str(exc).replace("--metrics ", "")) from None


def _need(value: Any, kind: type, where: str, what: str) -> Any:
    if not isinstance(value, kind):
        raise InputError(f"{where}: {what} must be a {'mapping' if kind is dict else 'list' if kind is list else kind.__name__}"
                         f", not {type(value).__name__} ({value!r:.60})")
    return value


def load_reported(path: str | Path) -> list[dict[str, Any]]:
    """The entries of a YAML file of typed-in numbers, every one checked (structure, numbers, metric keys and
    their options, the results schema) before any is returned: a bad file adds nothing to a store."""
    from ..errors import ResultsError
    from ..results.store import to_json_safe, validate

    path = Path(path)
    docs = load_yaml(path, "a file of reported numbers", all_documents=True)
    if not docs:
        raise InputError(f"{path}: no documents (a citation, a profile and tables of numbers are expected)")
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    for doc in docs:
        _need(doc, dict, str(path), "a document")
        missing = [k for k in ("citation", "profile", "tables") if k not in doc]
        if missing:
            raise InputError(f"{path}: a document lacks {', '.join(missing)} (see leaderboard/reported/*.yaml)")
        citation, profile = str(doc["citation"]), _need(doc["profile"], dict, str(path), "profile")
        if "name" not in profile or "version" not in profile:
            raise InputError(f"{path}: profile needs a name and a version, e.g. {{name: roentgen2022, version: \"2.0\"}}")
        for t, table in enumerate(_need(doc["tables"], list, str(path), "tables")):
            where = f"{path}: table {t + 1}"
            _need(table, dict, where, "a table")
            name = str(table.get("table") or f"table {t + 1}")
            where = f"{path}: {name}"
            columns = _need(table.get("columns"), list, where, "columns")
            units = table.get("units", "fraction")
            if units not in UNITS:
                raise InputError(f"{where}: units {units!r} is not one of {', '.join(UNITS)}")
            for row, values in _need(table.get("rows"), dict, where, "rows").items():
                values = _need(values, list, f"{where}, row {row!r}", "the row's values")
                if len(values) != len(columns):
                    raise InputError(f"{where}, row {row!r} has {len(values)} values for {len(columns)} columns")
                entry = entries.setdefault((citation, str(row)), {
                    "schema_version": SCHEMA_VERSION, "kind": "reported", "status": "complete",
                    "profile": {"name": str(profile["name"]), "version": str(profile["version"]), "sha256": None},
                    "model": {"name": str(row), "citation": citation},
                    "source": {"citation": citation, "table": ""}, "metrics": {},
                    "environment": {"cxrgen_bench": __version__}})
                tables = [t for t in entry["source"]["table"].split(", ") if t]
                entry["source"]["table"] = ", ".join(tables + [name])
                note = (table.get("notes") or {}).get(row)
                if note:
                    entry["source"]["notes"] = note
                for column, value in zip(columns, values):
                    cell = f"{where}, row {row!r}, column {column!r}"
                    if isinstance(value, float) and not math.isfinite(value):
                        raise InputError(f"{cell}: {value!r} is not a finite number (leave the cell empty with ~ or "
                                         "null when the paper gives none)")
                    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                        std = f"; a ± std goes in a column of its own ({column}.std)" if "±" in str(value) else ""
                        raise InputError(f"{cell}: {value!r} is not a number (leave the cell empty with ~ or null "
                                         f"when the paper gives none{std})")
                    try:
                        _put(entry["metrics"], str(column), value, UNITS[units], str(profile["name"]))
                    except NoCardError as exc:
                        raise InputError(f"{cell}: {exc}") from None
    out = list(entries.values())
    for entry in out:
        try:
            validate(to_json_safe(entry))
        except ResultsError as exc:
            raise InputError(f"{path}: row {entry['model']['name']!r}: {exc}") from None
    return out
