"""The board as Markdown (leaderboard/README.md): the tables of `table.py`, the side tables, the plots
and the sources of reported numbers. Text from results files is written inert (`escape`)."""
from __future__ import annotations

from .table import (CURVE_NOTE, SUBGROUP_HEADER, Curve, GridCell, Table, arrow, by_profile, cell_text, grid)

INTRO = ("Rebuilt from `leaderboard/entries/` by `cxrgen-bench leaderboard build`. "
         "**Bold**: best in column; _italic_: second best. ↓/↑: lower/higher is better. "
         "[a, b]: 95% prompt-level bootstrap CI. † reported in the cited paper, typed in, not reproduced here.")
SUBGROUP_NOTE = ("Each metric on each group's own images (against the same group's real images for metrics that "
                 "compare); gap: best − worst group with a 95% CI from the same resamples; groups under the profile's "
                 "minimum size are not ranked (`score --by`).")


def escape(text: str) -> str:
    """Text from results files as inert Markdown: one line (a newline would end the table row), no table
    cells (|), no emphasis, and no link or raw HTML ([..](javascript:..), <..>) ever formed from it."""
    text = " ".join(text.splitlines())
    for char in "\\`*_[]|":
        text = text.replace(char, "\\" + char)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def dressed(cell: GridCell) -> str:
    # numbers are formatted by the board itself ("[a, b]" is a CI), so they are not escaped
    text = cell.text + (" *" if cell.marked else "")
    return f"**{text}**" if cell.rank == 1 else f"_{text}_" if cell.rank == 2 else text


def header(labels: list[str], first: str) -> list[str]:
    return ["| " + " | ".join([first, *labels]) + " |", "|---|" + "---|" * len(labels)]


def page(tables: list[Table], plot_files: dict[str, str], views: list[tuple[str, list[str], list[str], list[list[str]]]],
         subgroups: list[tuple[str, list[str]]], curves: list[Curve]) -> str:
    lines = ["# cxrgen-bench leaderboard", "", INTRO, ""]
    for t in tables:
        lines += board_table(t)
    for profile, rows in by_profile(subgroups):
        lines += [f"## Subgroups — profile {profile}", "", SUBGROUP_NOTE, "",
                  "| " + " | ".join(SUBGROUP_HEADER) + " |", "|---|" + "---|" * (len(SUBGROUP_HEADER) - 1)]
        lines += ["| " + " | ".join(escape(c) for c in cells) + " |" for cells in rows] + [""]
    for curve in curves:
        lines += curve_table(curve)
    for title, file in plot_files.items():
        lines += [f"![{title}]({file})", ""]
    for view in views:
        lines += meta_view(*view)
    sources = sorted({r.citation for t in tables for r in t.rows if not r.measured})
    if sources:
        lines += ["## Sources of reported numbers", ""] + [f"- {escape(s)}" for s in sources] + [""]
    return "\n".join(lines)


def board_table(t: Table) -> list[str]:
    level = "###" if t.breakdown else "##"  # a breakdown sits under its section
    heading = f"{level} {t.section.title} — profile {t.profile}"
    lines = [heading + (" (calibration profile: not a CXR result)" if t.calibration else ""), "",
             (f"Layout of {t.section.source}. " if t.section.source else "") + t.section.notes, ""]
    lines += header([f"{escape(c.label)} {arrow(c)}" for c in t.columns], "model")
    for row, cells in zip(t.rows, grid(t)):
        lines.append(f"| {escape(row.display_name)} | " + " | ".join(dressed(c) for c in cells) + " |")
    return lines + [""]


def curve_table(curve: Curve) -> list[str]:
    lines = [f"## Over training steps: {escape(curve.run)} — profile {curve.profile}", "", CURVE_NOTE, ""]
    lines += header([f"{escape(c.label)} {arrow(c)}" for c in curve.columns], "step")
    lines += [f"| {r.step} | " + " | ".join(escape(cell_text(r, c)) for c in curve.columns) + " |"
              for r in curve.rows]
    return lines + [""]


def meta_view(title: str, said: list[str], head: list[str], body: list[list[str]]) -> list[str]:
    from ..meta import CORRUPTION_CELL

    lines = [f"## {escape(title)}", "", f"Cells: {CORRUPTION_CELL} (cxrgen-bench meta).", ""]
    lines += [f"- {escape(v)}" for v in said] + [""]
    lines += ["| " + " | ".join(escape(h) for h in head) + " |", "|---|" + "---|" * (len(head) - 1)]
    return lines + ["| " + " | ".join(escape(c) for c in cells) + " |" for cells in body] + [""]
