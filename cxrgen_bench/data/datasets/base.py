"""What every dataset adapter produces: a prompt table (one row per prompt, the 14 CheXpert
label columns, view, image path when the dataset has images) and a description of how it was
made: filters, and a count per reason of every row that was skipped. Nothing is dropped silently.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import random
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

from ...files import atomic_write_text
from ...errors import InputError
from ..labels import CHEXPERT_14

BASE_COLUMNS = ("prompt_id", "text")
TAIL_COLUMNS = ("view", "image_path")


READ_ERRORS = (OSError, EOFError, UnicodeDecodeError, csv.Error, zlib.error)


def _damage(path: Path, exc: BaseException) -> str:
    if isinstance(exc, gzip.BadGzipFile) or (path.suffix == ".gz" and isinstance(exc, zlib.error)):
        return f"not a readable gzip file ({exc}): it is damaged or not what its name says; download it again"
    if isinstance(exc, EOFError):
        return "cut short (the compressed stream ends early): download it again"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason} at byte {exc.start}); re-save it as UTF-8"
    return f"unreadable ({exc})"


def open_table(path: Path) -> tuple[list[str], Iterator[dict[str, str]]]:
    """A dataset's CSV (or .csv.gz) file: its header and its rows. A damaged file (not gzip, cut short, not
    UTF-8, not CSV) is an error naming it and the row where it broke, never a decoder's message alone."""
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    try:
        handle = opener(path, "rt", encoding="utf-8-sig", newline="")  # -sig: a CSV re-saved by Excel
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
    except READ_ERRORS as exc:
        raise InputError(f"{path}: {_damage(path, exc)}") from None

    def rows() -> Iterator[dict[str, str]]:
        try:
            yield from reader
        except READ_ERRORS as exc:
            raise InputError(f"{path}, after line {reader.line_num}: {_damage(path, exc)}") from None
        finally:
            handle.close()

    return header, rows()


def text_filter(text: str, min_chars: int | None, max_tokens: int | None) -> str | None:
    """Why a prompt text is left out by the paper's filters (too short, longer than CLIP reads), or None."""
    from ..tokens import clip_token_count

    if min_chars and len(text) < min_chars:
        return f"text shorter than {min_chars} characters"
    if max_tokens and clip_token_count(text) + 2 > max_tokens:
        return f"text longer than {max_tokens} CLIP tokens"
    return None


def cap_and_sample(rows: list[dict[str, Any]], skips: "Skips", no_finding_cap: int | None, limit: int | None,
                   seed: int) -> list[dict[str, Any]]:
    """The "No Finding" cap, then a seeded sample of ``limit`` prompts, each counted in ``skips``: the
    same rule for every dataset (one seeded generator, in this order)."""
    rng = random.Random(seed)
    if no_finding_cap is not None:
        normal = [i for i, r in enumerate(rows) if r.get("No Finding") == 1.0]
        if len(normal) > no_finding_cap:
            drop = set(rng.sample(normal, len(normal) - no_finding_cap))
            for i in sorted(drop):
                skips.skip(f"No Finding cap ({no_finding_cap})", f"prompt {rows[i]['prompt_id']}")
            rows = [r for i, r in enumerate(rows) if i not in drop]
    if limit is not None and len(rows) > limit:
        chosen = sorted(rng.sample(range(len(rows)), limit))
        skips.counts[f"beyond --limit {limit} (seeded sample)"] += len(rows) - limit
        rows = [rows[i] for i in chosen]
    return rows


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
        try:
            atomic_write_text(path, self.to_csv())
            atomic_write_text(path.with_suffix(path.suffix + ".json"),
                              json.dumps(self.description, indent=2, sort_keys=True) + "\n")
        except OSError as exc:  # a folder the checks could not foresee (a special file system, a full disk)
            raise InputError(f"cannot write the prompts to {path}: {exc.strerror or exc}; choose another --out") from None
        return path


class Dataset:
    """A registered dataset plug-in. `prompts(**options)` takes the options of `data prompts` (an option
    left out: the dataset's default) and applies every one of them: `text_filter` and `cap_and_sample`
    are the shared rules, recorded in the description's `filters`."""

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
