"""Leaderboards rebuilt from stored entries, laid out like the RoentGen tables: Markdown, a static
HTML page (with SVG plots), CSV and LaTeX. The table model is `table.py` (sections, columns, ranks,
all from metric cards); `markdown.py`, `html.py` and `exports.py` write it. The best value of a
column is bold, the second best italic (Markdown) / underlined (HTML); 95% CIs are shown where an
entry has them; entries typed in from papers are marked † and never shown as measured. Tables are
split by profile, so results of different profiles are never ranked together; sections without
entries are left out. Same entries → byte-identical files."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from ..card import Section
from ..errors import InputError
from ..files import atomic_write_text
from ..results.entry import ResultView
from . import exports, html, markdown, plots
from .table import (SIGNIFICANCE_TESTS, Row, Table, folded, mark_significance, meta_views, rows_of, subgroup_rows,
                    summary_tables, tables_for, training_curves)

__all__ = ["build", "tables_for"]


def build(entries: Iterable[Mapping[str, Any] | ResultView | Row], out: str | Path,
          meta: dict[str, dict[str, Any]] | None = None, significance: str | None = None,
          alpha: float = 0.05) -> dict[str, Path]:
    """The boards from stored entries, and the stored meta-evaluation reports (`meta`: name → report).
    ``significance`` ("bootstrap" or "ar") marks with * the cells that differ from their column's best at
    p < ``alpha``."""
    out = Path(out)
    rows = sorted(rows_of(entries), key=lambda r: (not r.measured, r.name))  # order never depends on input
    tables = tables_for(rows)
    # the summaries and the folded breakdowns are read, not exported twice (CSV and LaTeX keep the full tables)
    boards = summary_tables(tables) + folded(tables)
    if significance:
        _mark(boards, significance, alpha)
    cards = sorted({c.card for t in tables for c in t.columns if c.card},
                   key=lambda c: (c.board_section.order, c.order, c.name))
    plot_files = plots.draw(rows, cards, out)
    sides = (meta_views(meta or {}), subgroup_rows(rows), training_curves(rows))
    files = {"README.md": markdown.page(boards, plot_files, *sides),
             "index.html": html.page(boards, plot_files, *sides),
             "leaderboard.csv": exports.csv_text(tables, rows), "leaderboard.tex": exports.latex(tables)}
    written = {}
    for name, text in files.items():
        atomic_write_text(out / name, text)
        written[name] = out / name
    for title, rel in plot_files.items():
        written[rel] = out / rel
    return written


def _mark(boards: list[Table], significance: str, alpha: float) -> None:
    if significance not in SIGNIFICANCE_TESTS:
        raise InputError(f"--significance {significance!r}: choose {' or '.join(SIGNIFICANCE_TESTS)}")
    for t in boards:
        mark_significance(t, significance, alpha)
        if t.marks:
            t.section = Section(t.section.slug, t.section.title, t.section.source, (t.section.notes + " " if
                                t.section.notes else "") + f"* differs from the column's best at p < {alpha:g} "
                                f"({SIGNIFICANCE_TESTS[significance]}).", t.section.order, t.section.subject)
