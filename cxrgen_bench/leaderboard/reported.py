"""Numbers typed in from papers (leaderboard/reported/*.yaml) → results entries of kind "reported"."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..version import __version__
from ..errors import InputError
from ..results.store import SCHEMA_VERSION
from ..registry import NoCardError, card_for

UNITS = {"fraction": 1.0, "percent": 100.0}  # a table's `units`: how the paper printed its numbers (divisor)


def _put(metrics: dict[str, dict[str, Any]], column: str, value: float | None, divisor: float) -> None:
    """One typed-in number into its results entry: "KEY", "KEY.std" or "KEY.CLASS" (a per-class value
    of a metric whose card has a per-class breakdown). Stored as fractions, like measured values."""
    if value is None:
        return
    head, dot, tail = column.partition(".")
    number = float(value) / divisor
    if dot and tail == "std":
        metrics.setdefault(head, _entry(head))["std"] = number
    elif dot:
        card = card_for(head)
        if not card.per_class:
            raise NoCardError(f"metric {head!r} has no per-class breakdown on its card, so {column!r} has no place")
        metrics.setdefault(head, _entry(head))["details"].setdefault(card.per_class_field, {})[tail] = number
    else:
        metrics.setdefault(column, _entry(column))["value"] = number


def _entry(key: str) -> dict[str, Any]:
    card_for(key)  # a typed-in column must name a metric with a card (a typo fails here, naming the key)
    return {"key": key, "metric": key.split("[", 1)[0], "version": "reported", "value": None, "details": {}}


def load_reported(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        citation, profile = doc["citation"], doc["profile"]
        for table in doc["tables"]:
            columns = table["columns"]
            for row, values in table["rows"].items():
                if len(values) != len(columns):
                    raise InputError(f"{path}: {table['table']}, row {row!r} has {len(values)} values for "
                                     f"{len(columns)} columns")
                entry = entries.setdefault((citation, row), {
                    "schema_version": SCHEMA_VERSION, "kind": "reported", "status": "complete",
                    "profile": {"name": profile["name"], "version": str(profile["version"]), "sha256": None},
                    "model": {"name": row, "citation": citation},
                    "source": {"citation": citation, "table": ""}, "metrics": {},
                    "environment": {"cxrgen_bench": __version__}})
                tables = [t for t in entry["source"]["table"].split(", ") if t]
                entry["source"]["table"] = ", ".join(tables + [table["table"]])
                note = (table.get("notes") or {}).get(row)
                if note:
                    entry["source"]["notes"] = note
                units = table.get("units", "fraction")
                if units not in UNITS:
                    raise InputError(f"{path}: {table['table']}: units {units!r} is not one of {', '.join(UNITS)}")
                for column, value in zip(columns, values):
                    try:
                        _put(entry["metrics"], column, value, UNITS[units])
                    except NoCardError as exc:
                        raise InputError(f"{path}: {table['table']}, column {column!r}: {exc}") from None
    return list(entries.values())
