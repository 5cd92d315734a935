"""The board's tables for other programs: CSV (one row per cell, per group and per gap) and LaTeX
(booktabs tables laid out like the papers'). Exports keep every per-class column."""
from __future__ import annotations

import csv
import io
import math
from typing import Any

from ..registry import find_card
from .table import GridCell, Row, Table, arrow, grid

CSV_HEADER = ["section", "profile", "entry", "model", "kind", "metric", "column", "direction", "value", "std",
              "ci95_low", "ci95_high"]


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text, never runs as a formula (OWASP CSV injection): text that
    starts with = + - @ tab or CR gets a leading quote, unless it is a number (-0.5 stays numeric).
    Line breaks become spaces: the writer leaves a lone CR unquoted, and readers would end the row there."""
    if not isinstance(value, str):
        return value
    if value.startswith(("=", "+", "-", "@", "\t", "\r")) and not _is_number(value):
        value = "'" + value
    return " ".join(value.splitlines())


def csv_text(tables: list[Table], rows: list[Row] = ()) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for t in tables:
        for row in t.rows:
            for c in t.columns:
                cell = c.cell(row)
                if cell:
                    ci = cell.ci95 if not c.per_class else None
                    w.writerow([csv_cell(x) for x in (
                        t.section.slug, t.profile, row.name, row.model_name, row.kind, c.key, c.label,
                        c.direction or "", repr(cell.value), cell.std if not c.per_class else "",
                        ci[0] if ci else "", ci[1] if ci else "")])
    for row in rows:  # per group of patients (score --by): one row per group and one per gap
        if row.measured:
            _subgroup_lines(w, row)
    return buf.getvalue()


def _subgroup_lines(w: Any, row: Row) -> None:
    for key, entry in sorted(row.entries.items()):
        for attribute, view in sorted(entry.subgroups.items()):
            card = find_card(key)
            for group, r in list(view.groups.items()) + [("gap", view.gap)]:
                if r.value is None:
                    continue
                ci = r.ci
                w.writerow([csv_cell(x) for x in (
                    "subgroups", row.profile, row.name, row.model_name, row.kind, key, f"{attribute}={group}",
                    "lower" if group == "gap" else (card.direction if card else ""), repr(r.value), "",
                    ci[0] if ci else "", ci[1] if ci else "")])


def tex(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"), ("_", r"\_"),
                 ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}"),
                 ("†", r"$^\dagger$"), ("±", r"$\pm$"), ("—", "--"), ("↓", r"$\downarrow$"), ("↑", r"$\uparrow$")):
        text = text.replace(a, b) if a != "\\" else text.replace(a, "\x00")
    return text.replace("\x00", r"\textbackslash{}")


def _tex_cell(cell: GridCell) -> str:
    text = tex(cell.text) + (" *" if cell.marked else "")
    return f"\\textbf{{{text}}}" if cell.rank == 1 else f"\\underline{{{text}}}" if cell.rank == 2 else text


def latex(tables: list[Table]) -> str:
    out = ["% cxrgen-bench leaderboard (generated; needs \\usepackage{booktabs})"]
    for t in tables:
        out += [f"% {t.section.title} -- profile {t.profile}", "\\begin{table}[t]\\centering\\small",
                "\\begin{tabular}{l" + "r" * len(t.columns) + "}\\toprule",
                "Model & " + " & ".join(tex(f"{c.label} {arrow(c)}") for c in t.columns) + " \\\\\\midrule"]
        for row, cells in zip(t.rows, grid(t)):
            out.append(tex(row.display_name) + " & " + " & ".join(_tex_cell(c) for c in cells) + " \\\\")
        out += ["\\bottomrule\\end{tabular}",
                f"\\caption{{{tex(t.section.title)} (profile {tex(t.profile)}; layout of {tex(t.section.source)}).}}",
                "\\end{table}", ""]
    return "\n".join(out)
