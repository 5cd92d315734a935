"""The board as one static HTML page (leaderboard/index.html): the same tables as the Markdown board,
breakdowns folded under their sections, each value's CI in small type below it. Everything from a
results file is escaped."""
from __future__ import annotations

import html

from .table import (CURVE_NOTE, SUBGROUP_HEADER, Curve, GridCell, Row, Table, arrow, by_profile, cell_text, grid)

esc = html.escape

STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:0.5rem 0 1.5rem}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}tr.reported td{color:#666;font-style:italic}
td.best{font-weight:bold}td.second{text-decoration:underline}.calibration{color:#a33}
small.ci{color:#666;font-weight:normal;white-space:nowrap}
caption{caption-side:top;text-align:left;font-size:0.9em;color:#555;padding-bottom:4px}
details{margin:-1rem 0 1.5rem}details>summary{cursor:pointer;color:#345;font-size:0.95em}"""
INTRO = ("<p>Rebuilt from stored results. Bold: best in column; underlined: second best. ↓/↑: lower/higher is "
         "better. [a, b]: 95% prompt-level bootstrap CI. Rows in grey italics marked † are numbers reported in the "
         "cited paper, typed in, not reproduced.</p>")
SUBGROUP_CAPTION = ("Each metric on each group's own images; gap: best − worst group with a 95% CI; groups under the "
                    "minimum size are not ranked (score --by).")
MARK = ' <span class="significant" title="differs significantly from the best">*</span>'


def value_html(text: str) -> str:
    """A value (± std) on one line, its CI below it in small type, so that a section of a dozen columns
    still fits a laptop screen."""
    value, sep, ci = text.partition(" [")
    return esc(value) + (f'<br><small class="ci">[{esc(ci)}</small>' if sep else "")


def dressed(cell: GridCell) -> str:
    cls = ' class="best"' if cell.rank == 1 else ' class="second"' if cell.rank == 2 else ""
    return f"<td{cls}>{value_html(cell.text)}{MARK if cell.marked else ''}</td>"


def plain_table(section: str, caption: str, head: list[str], body: list[list[str]]) -> str:
    return (f'<table data-section="{section}"><caption>{caption}</caption><thead><tr>'
            + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>" for cells in body)
            + "</tbody></table>")


def page(tables: list[Table], plot_files: dict[str, str], views: list[tuple[str, list[str], list[str], list[list[str]]]],
         subgroups: list[tuple[str, list[str]]], curves: list[Curve]) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>cxrgen-bench leaderboard</title>", f"<style>{STYLE}</style></head><body>",
           "<h1>cxrgen-bench leaderboard</h1>", INTRO]
    for n, t in enumerate(tables):
        out += board_table(n, t)
    for n, (profile, rows) in enumerate(by_profile(subgroups)):
        out.append(f'<h2 id="subgroups-{n}">Subgroups — profile {esc(profile)}</h2>')
        out.append(plain_table("subgroups", SUBGROUP_CAPTION, SUBGROUP_HEADER, rows))
    for n, curve in enumerate(curves):
        out += curve_table(n, curve)
    for title, file in plot_files.items():
        out.append(f'<figure><img src="{esc(file)}" alt="{esc(title)}"><figcaption>{esc(title)}</figcaption></figure>')
    if views:
        from ..meta import CORRUPTION_CELL
    for n, (title, said, head, body) in enumerate(views):
        out.append(f'<h2 id="meta-{n}">{esc(title)}</h2><ul>' + "".join(f"<li>{esc(v)}</li>" for v in said) + "</ul>")
        out.append(plain_table("meta", esc(CORRUPTION_CELL), head, body))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def board_table(n: int, t: Table) -> list[str]:
    calib = ' <span class="calibration">(calibration profile: not a CXR result)</span>' if t.calibration else ""
    title = f"{esc(t.section.title)} — profile {esc(t.profile)}{calib}"
    anchor = f"{esc(t.section.slug)}-{n}"
    # a breakdown is folded under the section's own table: opened on demand
    out = [f'<details id="{anchor}"><summary>{title}</summary>' if t.breakdown else f'<h2 id="{anchor}">{title}</h2>']
    layout = f"Layout of {esc(t.section.source)}. " if t.section.source else ""
    out.append(f'<table data-section="{esc(t.section.slug)}"><caption>{layout}{esc(t.section.notes)}</caption>')
    out.append("<thead><tr><th>model</th>" + "".join(f"<th>{esc(c.label)} {arrow(c)}</th>" for c in t.columns)
               + "</tr></thead><tbody>")
    for row, cells in zip(t.rows, grid(t)):
        out.append(f'<tr class="{"measured" if row.measured else "reported"}"><td title="{_row_title(row)}">'
                   f'{esc(row.display_name)}</td>{"".join(dressed(c) for c in cells)}</tr>')
    out.append("</tbody></table>" + ("</details>" if t.breakdown else ""))
    return out


def _row_title(row: Row) -> str:
    return esc(row.name if row.measured else row.citation)


def curve_table(n: int, curve: Curve) -> list[str]:
    return [f'<h2 id="over-training-{n}">Over training steps: {esc(curve.run)} — profile {esc(curve.profile)}</h2>',
            f'<table data-section="over-training"><caption>{esc(CURVE_NOTE)}</caption><thead><tr><th>step</th>'
            + "".join(f"<th>{esc(c.label)} {arrow(c)}</th>" for c in curve.columns) + "</tr></thead><tbody>"
            + "".join(f"<tr><td>{r.step}</td>" + "".join(f"<td>{value_html(cell_text(r, c))}</td>"
                                                         for c in curve.columns) + "</tr>" for r in curve.rows)
            + "</tbody></table>"]
