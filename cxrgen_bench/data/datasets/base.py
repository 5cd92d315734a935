"""What every dataset adapter produces: a prompt table (one row per prompt, the 14 CheXpert
label columns, view, image path when the dataset has images) and a description of how it was
made: filters, and a count per reason of every row that was skipped. Nothing is dropped silently.
"""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ...files import atomic_write_text
from ...errors import InputError
from ..labels import CHEXPERT_14

BASE_COLUMNS = ("prompt_id", "text")
TAIL_COLUMNS = ("view", "image_path")


def format_label(value: float | None) -> str:
    return "" if value is None else str(int(value))


@dataclass
class Skips:
    """Rows left out, counted per reason, with a few examples each (for the description)."""

    strict: bool = False
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, where: str, *, malformed: bool = False) -> None:
        """Record a skipped row. In strict mode malformed rows (not filtered ones) are errors."""
        if malformed and self.strict:
            raise InputError(f"{where}: {reason} (use --lenient to skip such rows and count them)")
        self.counts[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 3:
            self.examples[reason].append(where)

    def as_dict(self) -> dict[str, Any]:
        return {reason: {"count": n, "examples": self.examples.get(reason, [])}
                for reason, n in sorted(self.counts.items())}


@dataclass
class PromptTable:
    rows: list[dict[str, Any]]
    description: dict[str, Any]
    extra_columns: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return BASE_COLUMNS + CHEXPERT_14 + TAIL_COLUMNS + self.extra_columns

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(self.columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            out = dict(row)
            for name in CHEXPERT_14:
                out[name] = format_label(row.get(name))
            writer.writerow(out)
        return buf.getvalue()

    def write(self, path: str | Path) -> Path:
        """The CSV and, beside it, `<name>.json` with the description (filters, skipped rows, licence)."""
        path = Path(path)
        atomic_write_text(path, self.to_csv())
        atomic_write_text(path.with_suffix(path.suffix + ".json"),
                          json.dumps(self.description, indent=2, sort_keys=True) + "\n")
        return path


class Dataset:
    """A registered dataset plug-in."""

    name: ClassVar[str]
    has_images: ClassVar[bool] = True
    licence: ClassVar[str] = ""

    def __init__(self, root: str | Path | None = None, strict: bool = True):
        self.root = Path(root) if root else None
        self.strict = strict

    def prompts(self, **options: Any) -> PromptTable:
        raise NotImplementedError

    def image_root(self) -> Path:
        if not self.has_images:
            raise InputError(f"dataset {self.name} has no images (reports only); image metrics need a reference "
                             "image folder from another source")
        if self.root is None:
            raise InputError(f"dataset {self.name}: pass --root, the folder holding its images")
        return self.root
