"""Leaderboards rebuilt from stored entries, laid out like the RoentGen tables: Markdown, a static
HTML page (with SVG plots), CSV and LaTeX. Sections, columns, labels, number formats, direction
arrows and plots all come from metric cards (metrics/card.py): a new metric or a new backbone's
`fid[x]` appears on the board in its card's section without any change here, and a results key
whose card is not installed appears in a section of its own, unranked, rather than not at all.
The best value of a column is bold, the second best italic (Markdown) / underlined (HTML); 95% CIs
are shown where an entry has them; entries typed in from papers are marked † and never shown as
measured. Tables are split by profile, so results of different profiles are never ranked together;
sections without entries are left out. Same entries → byte-identical files."""
from __future__ import annotations

import csv
import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..files import atomic_write_text
from ..card import UNCATALOGUED, Card, Section, base_of, option_of
from ..results.store import profile_label
from ..registry import find_card
from . import plots


@dataclass(frozen=True)
class Column:
    key: str  # results metric key
    label: str
    card: Card | None  # None: no card installed for this key (direction unknown)
    per_class: str | None = None  # read details[card.per_class_field][...] of the metric instead of its value

    def value(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        m = entry.get("metrics", {}).get(self.key)
        if not m or m.get("error"):
            return None
        if self.per_class:
            field_name = self.card.per_class_field if self.card else "per_class"
            v = ((m.get("details") or {}).get(field_name) or {}).get(self.per_class)
            return None if v is None else {"value": v}
        return None if m.get("value") is None else m

    @property
    def direction(self) -> str | None:
        return self.card.direction if self.card else None


def _usable(metric: dict[str, Any]) -> bool:
    return bool(metric) and not metric.get("error")


def columns_for(entries: list[dict[str, Any]]) -> list[tuple[Section, list[Column]]]:
    """The board's sections and their columns, derived from the keys the entries hold and their cards."""
    keys = sorted({k for e in entries for k, m in e.get("metrics", {}).items() if _usable(m)})
    by_card: dict[str, tuple[Card | None, list[str]]] = {}
    for key in keys:
        card = find_card(key)
        group = base_of(key) if card else key
        by_card.setdefault(group, (card, []))[1].append(key)
    sections: dict[str, tuple[Section, list[tuple[tuple, list[Column]]]]] = {}
    for group, (card, group_keys) in by_card.items():
        section = card.board_section if card else UNCATALOGUED
        columns = _card_columns(card, group_keys, entries) if card else [Column(k, k, None) for k in group_keys]
        order = (card.order, card.name) if card else (0, group)
        sections.setdefault(section.slug, (section, []))[1].append((order, columns))
    out = []
    for section, groups in sorted(sections.values(), key=lambda s: (s[0].order, s[0].slug)):
        out.append((section, [c for _, cols in sorted(groups, key=lambda g: g[0]) for c in cols]))
    return out


def headline_columns(entries: list[dict[str, Any]]) -> list[Column]:
    """Board columns without per-class breakdowns, in board order, each labelled on its own (the demo's
    summary table: "AUROC", not the board's "Filtered avg" beside its per-class columns)."""
    return [_on_its_own(c) for _, columns in columns_for(entries) for c in columns if not c.per_class]


def _on_its_own(column: Column) -> Column:
    """A column as read away from its section: a plain key takes its card's label ("AUROC", not the
    board's "Filtered avg" beside the per-class columns)."""
    plain = column.card is not None and column.key == column.card.name
    return Column(column.key, column.card.label, column.card) if plain else column


def _card_columns(card: Card, keys: list[str], entries: list[dict[str, Any]]) -> list[Column]:
    columns: list[Column] = []
    if card.name in keys:  # the plain key: its per-class breakdown, then the headline value
        if card.per_class:
            present = {c for e in entries for c in (((e.get("metrics", {}).get(card.name) or {}).get("details") or {})
                                                     .get(card.per_class_field) or {})}
            ordered = [c for c in card.per_class if c in present] + sorted(present - set(card.per_class))
            columns += [Column(card.name, c, card, per_class=c) for c in ordered]
        columns.append(Column(card.name, card.headline_label or card.label if card.per_class else card.label, card))
    options = sorted((k for k in keys if option_of(k) is not None), key=lambda k: card.option_rank(option_of(k)))
    columns += [Column(k, card.column_label(k), card) for k in options]
    return columns


@dataclass
class Table:
    section: Section
    profile: str
    calibration: bool
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)  # entries
    ranks: dict[tuple[int, int], int] = field(default_factory=dict)  # (row, col) → 1 best, 2 second
    # (row, col) whose value differs significantly from the column's best (build(..., significance=...))
    marks: set[tuple[int, int]] = field(default_factory=set)


def shown(value: float, column: Column) -> float:
    """The value as the board prints it: ranks compare these, so two cells that read the same are tied."""
    text = fmt(value, column)
    return float(text) / (100.0 if column.card is not None and column.card.scale == "percent" else 1.0)


def _rank(table: Table) -> None:
    for j, col in enumerate(table.columns):
        if col.direction is None:
            continue  # no card, no direction: nothing to rank
        sign = -1 if col.direction == "lower" else 1
        values = sorted({shown(v["value"], col) for e in table.rows if (v := col.value(e))}, key=lambda x: -sign * x)
        for i, e in enumerate(table.rows):
            v = col.value(e)
            if v and len(values) > 1:
                position = values.index(shown(v["value"], col))  # ties share a rank: both best, or both second
                if position < 2:
                    table.ranks[(i, j)] = position + 1


def _ranked(rows: list[dict[str, Any]], columns: list[Column]) -> list[dict[str, Any]]:
    """Measured rows best first by the table's first ranked column (rows without it after, by name),
    then the papers' rows the same way: a board reads top-down."""
    key_col = next((c for c in columns if c.direction is not None and not c.per_class), None)

    def key(e: dict[str, Any]) -> tuple:
        v = key_col.value(e) if key_col else None
        if v is None:
            return (e["kind"] != "measured", 1, 0.0, e["name"])
        return (e["kind"] != "measured", 0, shown(v["value"], key_col) * (1 if key_col.direction == "lower" else -1),
                e["name"])
    return sorted(rows, key=key)


def option_rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries with the options of `option_rows` cards split into rows of their own: a study's
    ``augmentation_auroc[real-1100]`` becomes the row "NAME: 1.1k real" with a plain AUROC column, beside
    the paper's rows of Table 5. Other metrics stay in the entry's own row."""
    out = []
    for e in entries:
        kept, rows = {}, {}
        for key, m in e.get("metrics", {}).items():
            card, option = find_card(key), option_of(key)
            if card is not None and card.option_rows and option is not None:
                rows.setdefault(option, {})[card.name] = m
            else:
                kept[key] = m
        if kept or not rows:
            out.append({**e, "metrics": kept})
        for option, metrics in sorted(rows.items()):
            label = next((str(m["details"]["row_label"]) for m in metrics.values()
                          if (m.get("details") or {}).get("row_label")), option)
            out.append({**e, "name": f"{e['name']} [{option}]", "metrics": metrics, "option_row": option,
                        "model": {**e["model"], "name": f"{e['model']['name']}: {label}"}})
    return out


def tables_for(entries: list[dict[str, Any]]) -> list[Table]:
    out = []
    ordered = sorted(option_rows(entries), key=lambda e: (e["kind"] != "measured", e["name"]))
    for section, section_columns in columns_for(ordered):
        by_profile: dict[str, list[dict[str, Any]]] = {}
        for e in ordered:
            if any(c.value(e) for c in section_columns):
                by_profile.setdefault(profile_label(e["profile"]), []).append(e)
        for profile, rows in sorted(by_profile.items()):
            columns = [c for c in section_columns if any(c.value(e) for e in rows)]
            calibration = any(e["profile"].get("calibration") for e in rows)
            table = Table(section, profile, calibration, columns, _ranked(rows, columns))
            _rank(table)
            out.append(table)
    return out


def fmt(value: float, column: Column) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    scale = column.card.scale if column.card else "open"
    if scale == "percent":
        return f"{100 * value:.1f}"
    if scale == "unit" or abs(value) < 1.5:
        return f"{value:.3f}"
    return f"{value:.1f}"


def cell_text(entry: dict[str, Any], col: Column) -> str:
    v = col.value(entry)
    if not v:
        return "—"
    text = fmt(v["value"], col)
    if v.get("std") is not None and not col.per_class:
        text += f" ± {fmt(v['std'], col)}"
    if v.get("ci95") and not col.per_class:
        text += f" [{fmt(v['ci95'][0], col)}, {fmt(v['ci95'][1], col)}]"
    return text


def html_cell(entry: dict[str, Any], col: Column) -> str:
    """The HTML cell: the value (± std) on one line, its CI below it in small type, so that a section of a
    dozen columns still fits a laptop screen."""
    text = cell_text(entry, col)
    value, sep, ci = text.partition(" [")
    return html.escape(value) + (f'<br><small class="ci">[{html.escape(ci)}</small>' if sep else "")


def row_name(entry: dict[str, Any]) -> str:
    return plots.display_name(entry)


SUMMARY_NOTE = ("One headline value per section (each section's first ranked column), one row per model, as the "
                "terminal prints it; the sections below hold the rest, with CIs.")
SUBJECT_ORDER = ("generators", "text encoders", "autoencoders")


def unique_labels(columns: list[Column], sections: list[Section]) -> list[Column]:
    """Columns whose labels repeat across sections (P@1 of i2i and of i2t) get their section's slug in front."""
    labels = [c.label for c in columns]
    return [Column(c.key, f"{s.slug} {c.label}", c.card, c.per_class) if labels.count(c.label) > 1 else c
            for c, s in zip(columns, sections)]


def summary_tables(tables: list[Table]) -> list[Table]:
    """Per profile and kind of subject (generators, text encoders, autoencoders), one row per model with each
    section's headline column: the board's first tables. A model scored in several runs (the main run, a
    retrieval run, a study) is one row."""
    out = []
    for profile in sorted({t.profile for t in tables}):
        for subject in sorted({t.section.subject for t in tables}, key=lambda s: (
                SUBJECT_ORDER.index(s) if s in SUBJECT_ORDER else len(SUBJECT_ORDER), s)):
            chosen = [t for t in tables if t.profile == profile and t.section.subject == subject
                      and t.section.slug != UNCATALOGUED.slug and not t.section.slug.endswith(PER_CLASS)]
            picked = [(t.section, c) for t in chosen
                      for c in [next((c for c in t.columns if c.direction and not c.per_class), None)] if c is not None]
            # one row per measured model; a study's option rows (Table 5's mixes) stay in their own section
            rows: dict[str, dict[str, Any]] = {}
            for t in chosen:
                for e in t.rows:
                    if e["kind"] != "measured" or e.get("option_row"):
                        continue
                    row = rows.setdefault(row_name(e), {**e, "metrics": {}})
                    for key, m in e.get("metrics", {}).items():
                        row["metrics"].setdefault(key, m)
            picked = [(s, _on_its_own(c)) for s, c in picked if any(c.value(e) for e in rows.values())]
            if len(picked) < 2 or not rows:
                continue
            columns = unique_labels([c for _, c in picked], [s for s, _ in picked])
            section = Section("summary", f"Summary: {subject}", "", SUMMARY_NOTE, order=0, subject=subject)
            summary = Table(section, profile, any(t.calibration for t in chosen), columns,
                            _ranked(list(rows.values()), columns))
            _rank(summary)
            out.append(summary)
    return out


PER_CLASS = "-per-class"


def folded(tables: list[Table]) -> list[Table]:
    """Each section's table without its per-class columns, followed by one table per breakdown (classes as
    columns, with the headline beside them): a board that fits a laptop screen. Exports keep the full tables."""
    out = []
    for t in tables:
        main = [c for c in t.columns if not c.per_class]
        breakdowns: dict[str, list[Column]] = {}
        for c in t.columns:
            if c.per_class:
                breakdowns.setdefault(c.key, []).append(c)
        if not breakdowns:
            out.append(t)
            continue
        if main:
            labelled = [_headline(c) if c.key in breakdowns else c for c in main]
            table = Table(t.section, t.profile, t.calibration, labelled, _ranked(t.rows, labelled))
            _rank(table)
            out.append(table)
        for key, classes in breakdowns.items():
            card = classes[0].card
            headline = [c for c in main if c.key == key]
            section = Section(f"{t.section.slug}{PER_CLASS}", f"{t.section.title}: {card.label if card else key} "
                              "per class", t.section.source, t.section.notes, t.section.order, t.section.subject)
            rows = [e for e in t.rows if any(c.value(e) for c in classes)]
            table = Table(section, t.profile, t.calibration, classes + headline, _ranked(rows, classes + headline))
            _rank(table)
            out.append(table)
    return out


def _headline(column: Column) -> Column:
    """A headline shown without its per-class columns: "AUROC (filtered avg)" rather than "Filtered avg"."""
    card = column.card
    if card is None or not card.headline_label:
        return _on_its_own(column)
    if card.headline_label.lower().startswith(card.label.lower()):  # "Acc. recon. (macro)" says it already
        return Column(column.key, card.headline_label, card)
    return Column(column.key, f"{card.label} ({card.headline_label.lower()})", card)


def ranked_cells(t: Table, i: int, entry: dict[str, Any], escape: Callable[[str], str],
                 best: str, second: str) -> list[str]:
    """Row i's cells, escaped, wrapped in the `best`/`second` templates ("{}" is the text) by rank."""
    cells = []
    for j, c in enumerate(t.columns):
        text = escape(cell_text(entry, c)) + (" *" if (i, j) in t.marks else "")
        rank = t.ranks.get((i, j))
        cells.append(best.format(text) if rank == 1 else second.format(text) if rank == 2 else text)
    return cells


def arrow(col: Column) -> str:
    return {"lower": "↓", "higher": "↑"}.get(col.direction or "", "?")


# --- subgroups (score --by) --------------------------------------------------------------------------

SUBGROUP_HEADER = ["model", "metric", "by", "groups: value (n)", "gap [95% CI]", "worst"]


def subgroup_rows(entries: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """(profile, cells) for every metric computed per group: whom each model serves worse."""
    out = []
    for e in entries:
        if e.get("kind") != "measured":
            continue
        for key, m in sorted((e.get("metrics") or {}).items()):
            for attribute, view in sorted(((m or {}).get("subgroups") or {}).items()):
                card = find_card(key)
                column = Column(key, key, card)
                groups = "; ".join(
                    f"{g} {fmt(r['value'], column)} ({r['n']})" if r.get("value") is not None else
                    f"{g} {'too small' if r.get('too_small') else '—'} ({r['n']})" for g, r in view["groups"].items())
                gap = view.get("gap") or {}
                gap_text = "—" if gap.get("value") is None else fmt(gap["value"], column) + (
                    f" [{fmt(gap['ci'][0], column)}, {fmt(gap['ci'][1], column)}]" if gap.get("ci") else "")
                if view.get("matched_n"):
                    gap_text += f", matched n = {view['matched_n']}"
                out.append((profile_label(e["profile"]),
                            [row_name(e), f"{column.label if card is None else card.column_label(key)} {arrow(column)}",
                             attribute, groups, gap_text, str(view.get("worst") or "—")]))
    return out


# --- over training steps (score on a checkpoints folder, sweep) ------------------------------------

CURVE_NOTE = ("Each checkpoint of the run by training step (RoentGen Tables 2 and 6 over training; `cxrgen-bench "
              "sweep`), with 95% CIs where computed; the plots below draw the same values.")


def training_curves(entries: list[dict[str, Any]]) -> list[tuple[str, str, list[Column], list[dict[str, Any]]]]:
    """(run, profile, columns, the run's entries by step) for every run whose checkpoints are on the board."""
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in entries:
        subject = e.get("subject") or {}
        if e.get("kind") == "measured" and subject.get("step") is not None:
            runs.setdefault((profile_label(e["profile"]), str(subject.get("run"))), []).append(e)
    out = []
    for (profile, run), rows in sorted(runs.items()):
        rows = sorted(rows, key=lambda e: (int(e["subject"]["step"]), e["name"]))
        out.append((plots.run_label(run), profile, headline_columns(rows), rows))
    return out


def _curve_markdown(curves: list[tuple[str, str, list[Column], list[dict[str, Any]]]]) -> list[str]:
    lines = []
    for run, profile, columns, rows in curves:
        lines += [f"## Over training steps: {_md_escape(run)} — profile {profile}", "", CURVE_NOTE, "",
                  "| step | " + " | ".join(f"{_md_escape(c.label)} {arrow(c)}" for c in columns) + " |",
                  "|---|" + "---|" * len(columns)]
        lines += [f"| {e['subject']['step']} | " + " | ".join(_md_escape(cell_text(e, c)) for c in columns) + " |"
                  for e in rows]
        lines.append("")
    return lines


def _curve_html(curves: list[tuple[str, str, list[Column], list[dict[str, Any]]]]) -> list[str]:
    esc = html.escape
    out = []
    for n, (run, profile, columns, rows) in enumerate(curves):
        out.append(f'<h2 id="over-training-{n}">Over training steps: {esc(run)} — profile {esc(profile)}</h2>')
        out.append(f'<table data-section="over-training"><caption>{esc(CURVE_NOTE)}</caption><thead><tr><th>step</th>'
                   + "".join(f"<th>{esc(c.label)} {arrow(c)}</th>" for c in columns) + "</tr></thead><tbody>"
                   + "".join(f"<tr><td>{e['subject']['step']}</td>" + "".join(f"<td>{html_cell(e, c)}</td>"
                                                                           for c in columns) + "</tr>" for e in rows)
                   + "</tbody></table>")
    return out


# --- Markdown --------------------------------------------------------------------------------------

def _md_escape(text: str) -> str:
    """Text from results files as inert Markdown: one line (a newline would end the table row), no table
    cells (|), no emphasis, and no link or raw HTML ([..](javascript:..), <..>) ever formed from it."""
    text = " ".join(text.splitlines())
    for char in "\\`*_[]|":
        text = text.replace(char, "\\" + char)
    return text.replace("<", "&lt;").replace(">", "&gt;")


# --- the meta-evaluation beside the boards ----------------------------------------------------------

def meta_views(reports: dict[str, dict[str, Any]]) -> list[tuple[str, list[str], list[str], list[list[str]]]]:
    """Stored `cxrgen-bench meta` reports (the store's meta/NAME/meta.json) as (title, verdicts,
    header, rows) per report and backbone: which metric to trust, read beside the numbers it qualifies."""
    from ..meta import corruption_table, verdicts

    out = []
    for name, report in sorted(reports.items()):
        for backbone, rows in report.get("corruptions", {}).items():
            header, body = corruption_table(rows)
            what = report.get("images", "phantoms")
            title = f"Which metric to trust: graded corruptions of {what} on {backbone} (meta/{name}, n = {report.get('n')})"
            out.append((title, [v for v in verdicts(report) if backbone in v or "known answers" in v],
                        header, body))
    return out


def _meta_markdown(views: list[tuple[str, list[str], list[str], list[list[str]]]]) -> list[str]:
    from ..meta import CORRUPTION_CELL

    lines = []
    for title, said, header, body in views:
        lines += [f"## {_md_escape(title)}", "", f"Cells: {CORRUPTION_CELL} (cxrgen-bench meta).", ""]
        lines += [f"- {_md_escape(v)}" for v in said] + [""]
        lines += ["| " + " | ".join(_md_escape(h) for h in header) + " |", "|---|" + "---|" * (len(header) - 1)]
        lines += ["| " + " | ".join(_md_escape(c) for c in cells) + " |" for cells in body] + [""]
    return lines


def _by_profile(rows: list[tuple[str, list[str]]]) -> list[tuple[str, list[list[str]]]]:
    grouped: dict[str, list[list[str]]] = {}
    for profile, cells in rows:
        grouped.setdefault(profile, []).append(cells)
    return sorted(grouped.items())


def markdown(tables: list[Table], plot_files: dict[str, str],
             views: list[tuple[str, list[str], list[str], list[list[str]]]] = (),
             subgroups: list[tuple[str, list[str]]] = (),
             curves: list[tuple[str, str, list[Column], list[dict[str, Any]]]] = ()) -> str:
    lines = ["# cxrgen-bench leaderboard", "",
             "Rebuilt from `leaderboard/entries/` by `cxrgen-bench leaderboard build`. "
             "**Bold**: best in column; _italic_: second best. ↓/↑: lower/higher is better. "
             "[a, b]: 95% prompt-level bootstrap CI. † reported in the cited paper, typed in, not reproduced here.", ""]
    for t in tables:
        level = "###" if t.section.slug.endswith(PER_CLASS) else "##"  # a breakdown sits under its section
        heading = f"{level} {t.section.title} — profile {t.profile}"
        lines += [heading + (" (calibration profile: not a CXR result)" if t.calibration else ""), "",
                  (f"Layout of {t.section.source}. " if t.section.source else "") + t.section.notes, ""]
        lines.append("| model | " + " | ".join(f"{_md_escape(c.label)} {arrow(c)}" for c in t.columns) + " |")
        lines.append("|---|" + "---|" * len(t.columns))
        for i, e in enumerate(t.rows):
            cells = ranked_cells(t, i, e, str, "**{}**", "_{}_")  # numbers formatted here: "[a, b]" is a CI
            lines.append(f"| {_md_escape(row_name(e))} | " + " | ".join(cells) + " |")
        lines.append("")
    for profile, rows in _by_profile(subgroups):
        lines += [f"## Subgroups — profile {profile}", "",
                  "Each metric on each group's own images (against the same group's real images for metrics that "
                  "compare); gap: best − worst group with a 95% CI from the same resamples; groups under the profile's "
                  "minimum size are not ranked (`score --by`).", "",
                  "| " + " | ".join(SUBGROUP_HEADER) + " |", "|---|" + "---|" * (len(SUBGROUP_HEADER) - 1)]
        lines += ["| " + " | ".join(_md_escape(c) for c in cells) + " |" for cells in rows] + [""]
    lines += _curve_markdown(list(curves))
    for title, file in plot_files.items():
        lines += [f"![{title}]({file})", ""]
    lines += _meta_markdown(list(views))
    sources = sorted({e["source"]["citation"] for t in tables for e in t.rows if e["kind"] == "reported"})
    if sources:
        lines += ["## Sources of reported numbers", ""] + [f"- {_md_escape(s)}" for s in sources] + [""]
    return "\n".join(lines)


# --- HTML ------------------------------------------------------------------------------------------

STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:0.5rem 0 1.5rem}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}tr.reported td{color:#666;font-style:italic}
td.best{font-weight:bold}td.second{text-decoration:underline}.calibration{color:#a33}
small.ci{color:#666;font-weight:normal;white-space:nowrap}
caption{caption-side:top;text-align:left;font-size:0.9em;color:#555;padding-bottom:4px}
details{margin:-1rem 0 1.5rem}details>summary{cursor:pointer;color:#345;font-size:0.95em}"""


def html_page(tables: list[Table], plot_files: dict[str, str],
              views: list[tuple[str, list[str], list[str], list[list[str]]]] = (),
              subgroups: list[tuple[str, list[str]]] = (),
              curves: list[tuple[str, str, list[Column], list[dict[str, Any]]]] = ()) -> str:
    esc = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>cxrgen-bench leaderboard</title>", f"<style>{STYLE}</style></head><body>",
           "<h1>cxrgen-bench leaderboard</h1>",
           "<p>Rebuilt from stored results. Bold: best in column; underlined: second best. ↓/↑: lower/higher is "
           "better. [a, b]: 95% prompt-level bootstrap CI. Rows in grey italics marked † are numbers reported in the "
           "cited paper, typed in, not reproduced.</p>"]
    for n, t in enumerate(tables):
        calib = ' <span class="calibration">(calibration profile: not a CXR result)</span>' if t.calibration else ""
        breakdown = t.section.slug.endswith(PER_CLASS)
        title = f"{esc(t.section.title)} — profile {esc(t.profile)}{calib}"
        if breakdown:  # folded under the section's own table: opened on demand
            out.append(f'<details id="{esc(t.section.slug)}-{n}"><summary>{title}</summary>')
        else:
            out.append(f'<h2 id="{esc(t.section.slug)}-{n}">{title}</h2>')
        layout = f"Layout of {esc(t.section.source)}. " if t.section.source else ""
        out.append(f'<table data-section="{esc(t.section.slug)}"><caption>{layout}{esc(t.section.notes)}</caption>')
        out.append("<thead><tr><th>model</th>" + "".join(f"<th>{esc(c.label)} {arrow(c)}</th>" for c in t.columns)
                   + "</tr></thead><tbody>")
        for i, e in enumerate(t.rows):
            cells = []
            for j, c in enumerate(t.columns):
                rank = t.ranks.get((i, j))
                cls = ' class="best"' if rank == 1 else ' class="second"' if rank == 2 else ""
                mark = ' <span class="significant" title="differs significantly from the best">*</span>' \
                    if (i, j) in t.marks else ""
                cells.append(f"<td{cls}>{html_cell(e, c)}{mark}</td>")
            kind = "reported" if e["kind"] == "reported" else "measured"
            row_title = esc(e["source"]["citation"]) if e["kind"] == "reported" else esc(e["name"])
            out.append(f'<tr class="{kind}"><td title="{row_title}">{esc(row_name(e))}</td>{"".join(cells)}</tr>')
        out.append("</tbody></table>" + ("</details>" if breakdown else ""))
    for n, (profile, rows) in enumerate(_by_profile(subgroups)):
        out.append(f'<h2 id="subgroups-{n}">Subgroups — profile {esc(profile)}</h2>')
        out.append('<table data-section="subgroups"><caption>Each metric on each group\'s own images; gap: best − '
                   'worst group with a 95% CI; groups under the minimum size are not ranked (score --by).</caption>'
                   "<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in SUBGROUP_HEADER) + "</tr></thead><tbody>"
                   + "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>" for cells in rows)
                   + "</tbody></table>")
    out += _curve_html(list(curves))
    for title, file in plot_files.items():
        out.append(f'<figure><img src="{esc(file)}" alt="{esc(title)}"><figcaption>{esc(title)}</figcaption></figure>')
    if views:
        from ..meta import CORRUPTION_CELL
    for n, (title, said, header, body) in enumerate(views):
        out.append(f'<h2 id="meta-{n}">{esc(title)}</h2><ul>' + "".join(f"<li>{esc(v)}</li>" for v in said) + "</ul>")
        out.append(f'<table data-section="meta"><caption>{esc(CORRUPTION_CELL)}</caption><thead><tr>'
                   + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead><tbody>"
                   + "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>" for cells in body)
                   + "</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# --- CSV and LaTeX ---------------------------------------------------------------------------------

def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text, never runs as a formula (OWASP CSV injection): text that
    starts with = + - @ tab or CR gets a leading quote, unless it is a number (-0.5 stays numeric).
    Line breaks become spaces: the writer leaves a lone CR unquoted, and readers would end the row there."""
    if not isinstance(value, str):
        return value
    if value.startswith(("=", "+", "-", "@", "\t", "\r")) and not _is_number(value):
        value = "'" + value
    return " ".join(value.splitlines())


def csv_text(tables: list[Table], entries: list[dict[str, Any]] = ()) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "profile", "entry", "model", "kind", "metric", "column", "direction", "value",
                "std", "ci95_low", "ci95_high"])
    for t in tables:
        for e in t.rows:
            for c in t.columns:
                v = c.value(e)
                if v:
                    ci = v.get("ci95") if not c.per_class else None
                    w.writerow([_csv_cell(cell) for cell in (
                        t.section.slug, t.profile, e["name"], e["model"]["name"], e["kind"], c.key, c.label,
                        c.direction or "", repr(v["value"]), v.get("std") if not c.per_class else "",
                        ci[0] if ci else "", ci[1] if ci else "")])
    for e in entries:  # per group of patients (score --by): one row per group and one per gap
        if e.get("kind") != "measured":
            continue
        for key, m in sorted((e.get("metrics") or {}).items()):
            for attribute, view in sorted(((m or {}).get("subgroups") or {}).items()):
                card = find_card(key)
                for group, r in list(view["groups"].items()) + [("gap", view.get("gap") or {})]:
                    if r.get("value") is None:
                        continue
                    ci = r.get("ci")
                    w.writerow([_csv_cell(cell) for cell in (
                        "subgroups", profile_label(e["profile"]), e["name"], e["model"]["name"], e["kind"], key,
                        f"{attribute}={group}", "lower" if group == "gap" else (card.direction if card else ""),
                        repr(r["value"]), "", ci[0] if ci else "", ci[1] if ci else "")])
    return buf.getvalue()


def _tex(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"), ("_", r"\_"),
                 ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}"),
                 ("†", r"$^\dagger$"), ("±", r"$\pm$"), ("—", "--"), ("↓", r"$\downarrow$"), ("↑", r"$\uparrow$")):
        text = text.replace(a, b) if a != "\\" else text.replace(a, "\x00")
    return text.replace("\x00", r"\textbackslash{}")


def latex(tables: list[Table]) -> str:
    out = ["% cxrgen-bench leaderboard (generated; needs \\usepackage{booktabs})"]
    for t in tables:
        out += [f"% {t.section.title} -- profile {t.profile}", "\\begin{table}[t]\\centering\\small",
                "\\begin{tabular}{l" + "r" * len(t.columns) + "}\\toprule",
                "Model & " + " & ".join(_tex(f"{c.label} {arrow(c)}") for c in t.columns) + " \\\\\\midrule"]
        for i, e in enumerate(t.rows):
            cells = ranked_cells(t, i, e, _tex, "\\textbf{{{}}}", "\\underline{{{}}}")
            out.append(_tex(row_name(e)) + " & " + " & ".join(cells) + " \\\\")
        out += ["\\bottomrule\\end{tabular}",
                f"\\caption{{{_tex(t.section.title)} (profile {_tex(t.profile)}; layout of {_tex(t.section.source)}).}}",
                "\\end{table}", ""]
    return "\n".join(out)


SIGNIFICANCE_TESTS = {"bootstrap": "the paired bootstrap over prompts",
                      "ar": "approximate randomization on per-item values (10,000 swaps)"}


def mark_significance(table: Table, test: str, alpha: float) -> None:
    """Mark each measured cell whose value differs from its column's best at p < alpha (the test paired by
    prompt or item; cells that cannot be paired stay unmarked)."""
    from ..compare import compare_metric

    for j, c in enumerate(table.columns):
        if c.per_class or c.direction is None:
            continue
        best = next((i for i, e in enumerate(table.rows) if table.ranks.get((i, j)) == 1 and e["kind"] == "measured"), None)
        if best is None:
            continue
        ref = table.rows[best]["metrics"].get(c.key)
        for i, e in enumerate(table.rows):
            if i == best or e["kind"] != "measured" or table.ranks.get((i, j)) == 1 or not c.value(e):
                continue
            result = compare_metric(c.key, ref, e["metrics"].get(c.key), shuffles=10000 if test == "ar" else 0)
            p = result.ar_p_value if test == "ar" else result.p_value
            if p is not None and p < alpha:
                table.marks.add((i, j))


def build(entries: list[dict[str, Any]], out: str | Path, meta: dict[str, dict[str, Any]] | None = None,
          significance: str | None = None, alpha: float = 0.05) -> dict[str, Path]:
    """The boards from stored entries, and the stored meta-evaluation reports (`meta`: name → report).
    ``significance`` ("bootstrap" or "ar") marks with * the cells that differ from their column's best at
    p < ``alpha``."""
    out = Path(out)
    entries = sorted(entries, key=lambda e: (e["kind"] != "measured", e["name"]))  # order never depends on input
    tables = tables_for(entries)
    # the summaries and the folded breakdowns are read, not exported twice (CSV and LaTeX keep the full tables)
    boards = summary_tables(tables) + folded(tables)
    if significance:
        if significance not in SIGNIFICANCE_TESTS:
            from ..errors import InputError

            raise InputError(f"--significance {significance!r}: choose {' or '.join(SIGNIFICANCE_TESTS)}")
        for t in boards:
            mark_significance(t, significance, alpha)
            if any(m for m in t.marks):
                t.section = Section(t.section.slug, t.section.title, t.section.source, (t.section.notes + " " if
                                    t.section.notes else "") + f"* differs from the column's best at p < {alpha:g} "
                                    f"({SIGNIFICANCE_TESTS[significance]}).", t.section.order, t.section.subject)
    cards = sorted({c.card for t in tables for c in t.columns if c.card},
                   key=lambda c: (c.board_section.order, c.order, c.name))
    plot_files = plots.draw(entries, cards, out)
    views = meta_views(meta or {})
    groups = subgroup_rows(entries)
    curves = training_curves(entries)
    files = {"README.md": markdown(boards, plot_files, views, groups, curves),
             "index.html": html_page(boards, plot_files, views, groups, curves),
             "leaderboard.csv": csv_text(tables, entries), "leaderboard.tex": latex(tables)}
    written = {}
    for name, text in files.items():
        atomic_write_text(out / name, text)
        written[name] = out / name
    for title, rel in plot_files.items():
        written[rel] = out / rel
    return written
