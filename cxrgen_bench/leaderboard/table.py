"""The board's table model, apart from any output format: rows (stored results, typed), columns (from
metric cards), tables per section and profile with ranks, the summary tables, the folded per-class
breakdowns, and the side tables (per group of patients, over training steps, the meta-evaluation).
`markdown.py`, `html.py` and `exports.py` write what this builds; nothing here formats a page.

Sections, columns, labels, number formats and direction arrows all come from metric cards: a new
metric or a new backbone's `fid[x]` appears on the board in its card's section without any change
here, and a results key whose card is not installed appears in a section of its own, unranked."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ..card import UNCATALOGUED, Card, Section, base_of, option_of
from ..registry import find_card
from ..results.entry import Entry, ResultView
from ..results.store import profile_label


# --- rows ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """A board row: a stored result, or one training mix of a study's result (``option``)."""

    result: ResultView
    entries: Mapping[str, Entry]
    name: str
    model_name: str
    option: str | None = None

    @classmethod
    def of(cls, result: Mapping[str, Any] | ResultView) -> "Row":
        view = ResultView.of(result)
        return cls(view, view.entries, view.name, view.model_name)

    @property
    def measured(self) -> bool:
        return self.result.measured

    @property
    def kind(self) -> str:
        return self.result.kind

    @property
    def profile(self) -> str:
        return profile_label(self.result.profile)

    @property
    def calibration(self) -> bool:
        return self.result.calibration

    @property
    def citation(self) -> str:
        return self.result.citation

    @property
    def display_name(self) -> str:
        """The name boards print (the model's name; † for numbers typed in from a paper): tables and plot
        legends say the same thing."""
        return self.model_name + ("" if self.measured else " †")

    @property
    def step(self) -> int | None:
        step = self.result.subject.get("step")
        return None if step is None else int(step)

    @property
    def run(self) -> str:
        return str(self.result.subject.get("run"))

    def usable(self, key: str) -> Entry | None:
        entry = self.entries.get(key)
        return entry if entry is not None and not entry.error else None


def rows_of(results: Iterable[Mapping[str, Any] | ResultView | Row]) -> list[Row]:
    return [r if isinstance(r, Row) else Row.of(r) for r in results]


def option_rows(rows: list[Row]) -> list[Row]:
    """Rows with the options of `option_rows` cards split into rows of their own: a study's
    ``augmentation_auroc[real-1100]`` becomes the row "NAME: 1.1k real" with a plain AUROC column, beside
    the paper's rows of Table 5. Other metrics stay in the row's own row."""
    out = []
    for row in rows:
        kept: dict[str, Entry] = {}
        split: dict[str, dict[str, Entry]] = {}
        for key, entry in row.entries.items():
            card, option = find_card(key), option_of(key)
            if card is not None and card.option_rows and option is not None:
                split.setdefault(option, {})[card.name] = entry
            else:
                kept[key] = entry
        if kept or not split:
            out.append(Row(row.result, kept, row.name, row.model_name, row.option))
        for option, entries in sorted(split.items()):
            label = next((str(e.details["row_label"]) for e in entries.values() if e.details.get("row_label")), option)
            out.append(Row(row.result, entries, f"{row.name} [{option}]", f"{row.model_name}: {label}", option))
    return out


# --- columns ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """What a column shows of a row: a value, with its spread and CI where the column shows them."""

    value: float
    std: float | None = None
    ci95: tuple[float, float] | None = None

    @property
    def defined(self) -> bool:
        return not (isinstance(self.value, float) and math.isnan(self.value))

    @property
    def flat_ci(self) -> bool:
        """Every resample gave the same value: the CI is no uncertainty estimate."""
        return self.ci95 is not None and abs(self.ci95[1] - self.ci95[0]) <= 1e-12 * max(1.0, abs(self.value))

    def at_bound(self, card: Card | None) -> bool:
        """A value at an end of the metric's range (retrieval P@1 of 100 %): every resample hitting the bound is
        the best possible result, not a collapse."""
        return card is not None and any(b is not None and abs(self.value - b) <= 1e-12 for b in card.value_range)

    def rankable(self, card: Card | None) -> bool:
        """Boards bold and rank only defined values with an uncertainty estimate (or at the range's end): a
        reader κ of 0 whose bootstrap collapsed to one value is not "best"."""
        return self.defined and not (self.flat_ci and not self.at_bound(card))


@dataclass(frozen=True)
class Column:
    key: str  # results metric key
    label: str
    card: Card | None  # None: no card installed for this key (direction unknown)
    per_class: str | None = None  # read details[card.per_class_field][...] of the metric instead of its value

    def cell(self, row: Row) -> Cell | None:
        entry = row.usable(self.key)
        if entry is None:
            return None
        if self.per_class:
            value = entry.per_class(self.card.per_class_field if self.card else "per_class").get(self.per_class)
            return None if value is None else Cell(value)
        return None if entry.value is None else Cell(entry.value, entry.std, entry.ci95)

    @property
    def direction(self) -> str | None:
        return self.card.direction if self.card else None


def arrow(col: Column) -> str:
    return {"lower": "↓", "higher": "↑"}.get(col.direction or "", "?")


def columns_for(rows: list[Row]) -> list[tuple[Section, list[Column]]]:
    """The board's sections and their columns, derived from the keys the rows hold and their cards."""
    keys = sorted({k for r in rows for k, e in r.entries.items() if not e.error})
    by_card: dict[str, tuple[Card | None, list[str]]] = {}
    for key in keys:
        card = find_card(key)
        group = base_of(key) if card else key
        by_card.setdefault(group, (card, []))[1].append(key)
    sections: dict[str, tuple[Section, list[tuple[tuple, list[Column]]]]] = {}
    for group, (card, group_keys) in by_card.items():
        section = card.board_section if card else UNCATALOGUED
        columns = _card_columns(card, group_keys, rows) if card else [Column(k, k, None) for k in group_keys]
        order = (card.order, card.name) if card else (0, group)
        sections.setdefault(section.slug, (section, []))[1].append((order, columns))
    out = []
    for section, groups in sorted(sections.values(), key=lambda s: (s[0].order, s[0].slug)):
        out.append((section, [c for _, cols in sorted(groups, key=lambda g: g[0]) for c in cols]))
    return out


def headline_columns(rows: list[Row]) -> list[Column]:
    """Board columns without per-class breakdowns, in board order, each labelled on its own (the demo's
    summary table: "AUROC", not the board's "Filtered avg" beside its per-class columns)."""
    return [on_its_own(c) for _, columns in columns_for(rows) for c in columns if not c.per_class]


def on_its_own(column: Column) -> Column:
    """A column as read away from its section: a plain key takes its card's label ("AUROC", not the
    board's "Filtered avg" beside the per-class columns)."""
    plain = column.card is not None and column.key == column.card.name
    return Column(column.key, column.card.label, column.card) if plain else column


def _card_columns(card: Card, keys: list[str], rows: list[Row]) -> list[Column]:
    columns: list[Column] = []
    if card.name in keys:  # the plain key: its per-class breakdown, then the headline value
        if card.per_class:
            present = {c for r in rows if (e := r.entries.get(card.name)) is not None
                       for c in e.per_class(card.per_class_field)}
            ordered = [c for c in card.per_class if c in present] + sorted(present - set(card.per_class))
            columns += [Column(card.name, c, card, per_class=c) for c in ordered]
        columns.append(Column(card.name, card.headline_label or card.label if card.per_class else card.label, card))
    options = sorted((k for k in keys if option_of(k) is not None), key=lambda k: card.option_rank(option_of(k)))
    columns += [Column(k, card.column_label(k), card) for k in options]
    return columns


def unique_labels(columns: list[Column], sections: list[Section]) -> list[Column]:
    """Columns whose labels repeat across sections (P@1 of i2i and of i2t) get their section's slug in front."""
    labels = [c.label for c in columns]
    return [Column(c.key, f"{s.slug} {c.label}", c.card, c.per_class) if labels.count(c.label) > 1 else c
            for c, s in zip(columns, sections)]


# --- numbers as the board prints them ----------------------------------------------------------------

def fmt(value: float | None, column: Column) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    scale = column.card.scale if column.card else "open"
    if scale == "percent":
        return f"{100 * value:.1f}"
    if scale == "unit" or abs(value) < 1.5:
        return f"{value:.3f}"
    return f"{value:.1f}"


def shown(value: float, column: Column) -> float:
    """The value as the board prints it: ranks compare these, so two cells that read the same are tied."""
    text = fmt(value, column)
    return float(text) / (100.0 if column.card is not None and column.card.scale == "percent" else 1.0)


def cell_text(row: Row, col: Column) -> str:
    cell = col.cell(row)
    if cell is None:
        return "—"
    text = fmt(cell.value, col)
    if cell.std is not None and not col.per_class:
        text += f" ± {fmt(cell.std, col)}"
    if cell.ci95 and not col.per_class:
        text += ci_text(cell, col)
    return text


def ci_text(cell: Cell, col: Column) -> str:
    """A CI only where it has width at the board's precision; a collapsed one says so instead."""
    if cell.flat_ci:
        return " (every resample)" if cell.at_bound(col.card) else " (no CI: every resample equal)"
    lo, hi = fmt(cell.ci95[0], col), fmt(cell.ci95[1], col)
    return "" if lo == hi else f" [{lo}, {hi}]"


# --- tables ------------------------------------------------------------------------------------------

@dataclass
class Table:
    section: Section
    profile: str
    calibration: bool
    columns: list[Column]
    rows: list[Row] = field(default_factory=list)
    ranks: dict[tuple[int, int], int] = field(default_factory=dict)  # (row, col) → 1 best, 2 second
    # (row, col) whose value differs significantly from the column's best (build(..., significance=...))
    marks: set[tuple[int, int]] = field(default_factory=set)

    @classmethod
    def ranked(cls, section: Section, profile: str, calibration: bool, columns: list[Column],
               rows: list[Row]) -> "Table":
        table = cls(section, profile, calibration, columns, _order(rows, columns))
        _rank(table)
        return table

    @property
    def breakdown(self) -> bool:
        """A per-class table folded under its section's own table."""
        return self.section.slug.endswith(PER_CLASS)


PER_CLASS = "-per-class"


def _rank(table: Table) -> None:
    for j, col in enumerate(table.columns):
        if col.direction is None:
            continue  # no card, no direction: nothing to rank
        sign = -1 if col.direction == "lower" else 1
        values = sorted({shown(c.value, col) for r in table.rows if (c := col.cell(r)) and c.rankable(col.card)},
                        key=lambda x: -sign * x)
        for i, row in enumerate(table.rows):
            cell = col.cell(row)
            if cell and cell.rankable(col.card) and len(values) > 1:
                position = values.index(shown(cell.value, col))  # ties share a rank: both best, or both second
                if position < 2:
                    table.ranks[(i, j)] = position + 1


def _order(rows: list[Row], columns: list[Column]) -> list[Row]:
    """Measured rows best first by the table's first ranked column (rows without it after, by name),
    then the papers' rows the same way: a board reads top-down."""
    key_col = next((c for c in columns if c.direction is not None and not c.per_class), None)

    def key(row: Row) -> tuple:
        cell = key_col.cell(row) if key_col else None
        if cell is None or not cell.defined:
            return (not row.measured, 1, 0.0, row.name)
        return (not row.measured, 0, shown(cell.value, key_col) * (1 if key_col.direction == "lower" else -1),
                row.name)
    return sorted(rows, key=key)


def tables_for(results: Iterable[Mapping[str, Any] | ResultView | Row]) -> list[Table]:
    out = []
    ordered = sorted(option_rows(rows_of(results)), key=lambda r: (not r.measured, r.name))
    for section, section_columns in columns_for(ordered):
        by_profile: dict[str, list[Row]] = {}
        for row in ordered:
            if any(c.cell(row) for c in section_columns):
                by_profile.setdefault(row.profile, []).append(row)
        for profile, rows in sorted(by_profile.items()):
            columns = [c for c in section_columns if any(c.cell(r) for r in rows)]
            out.append(Table.ranked(section, profile, any(r.calibration for r in rows), columns, rows))
    return out


SUMMARY_NOTE = ("One headline value per section (each section's first ranked column), one row per model with at "
                "least two of them, as the terminal prints it; the sections below hold the rest, with CIs.")
SUBJECT_ORDER = ("generators", "text encoders", "autoencoders")


def summary_tables(tables: list[Table]) -> list[Table]:
    """Per profile and kind of subject (generators, text encoders, autoencoders), one row per model with each
    section's headline column: the board's first tables. A model scored in several runs (the main run, a
    retrieval run, a study) is one row."""
    out = []
    for profile in sorted({t.profile for t in tables}):
        for subject in sorted({t.section.subject for t in tables}, key=lambda s: (
                SUBJECT_ORDER.index(s) if s in SUBJECT_ORDER else len(SUBJECT_ORDER), s)):
            chosen = [t for t in tables if t.profile == profile and t.section.subject == subject
                      and t.section.slug != UNCATALOGUED.slug and not t.breakdown]
            summary = _summary(chosen, profile, subject)
            if summary is not None:
                out.append(summary)
    return out


def _summary(chosen: list[Table], profile: str, subject: str) -> Table | None:
    picked = [(t.section, c) for t in chosen
              for c in [next((c for c in t.columns if c.direction and not c.per_class), None)] if c is not None]
    # one row per measured model; a study's option rows (Table 5's mixes) stay in their own section
    merged: dict[str, tuple[Row, dict[str, Entry]]] = {}
    for t in chosen:
        for row in t.rows:
            if not row.measured or row.option:
                continue
            first, entries = merged.setdefault(row.display_name, (row, {}))
            for key, entry in row.entries.items():
                entries.setdefault(key, entry)
    rows = [Row(first.result, entries, first.name, first.model_name) for first, entries in merged.values()]
    # A model with one headline value (a subgroup run, a memorisation study) reads better in its own section:
    # kept here, it would add a row of dashes and a column only it fills.
    rows = [r for r in rows if sum(c.cell(r) is not None for _, c in picked) >= 2]
    picked = [(s, on_its_own(c)) for s, c in picked if any(c.cell(r) for r in rows)]
    if len(picked) < 2 or not rows:
        return None
    columns = unique_labels([c for _, c in picked], [s for s, _ in picked])
    section = Section("summary", f"Summary: {subject}", "", SUMMARY_NOTE, order=0, subject=subject)
    return Table.ranked(section, profile, any(t.calibration for t in chosen), columns, rows)


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
            out.append(Table.ranked(t.section, t.profile, t.calibration, labelled, t.rows))
        for key, classes in breakdowns.items():
            card = classes[0].card
            headline = [c for c in main if c.key == key]
            section = Section(f"{t.section.slug}{PER_CLASS}", f"{t.section.title}: {card.label if card else key} "
                              "per class", t.section.source, t.section.notes, t.section.order, t.section.subject)
            rows = [r for r in t.rows if any(c.cell(r) for c in classes)]
            out.append(Table.ranked(section, t.profile, t.calibration, classes + headline, rows))
    return out


def _headline(column: Column) -> Column:
    """A headline shown without its per-class columns: "AUROC (filtered avg)" rather than "Filtered avg"."""
    card = column.card
    if card is None or not card.headline_label:
        return on_its_own(column)
    if card.headline_label.lower().startswith(card.label.lower()):  # "Acc. recon. (macro)" says it already
        return Column(column.key, card.headline_label, card)
    return Column(column.key, f"{card.label} ({card.headline_label.lower()})", card)


SIGNIFICANCE_TESTS = {"bootstrap": "the paired bootstrap over prompts",
                      "ar": "approximate randomization on per-item values (10,000 swaps)"}


def mark_significance(table: Table, test: str, alpha: float) -> None:
    """Mark each measured cell whose value differs from its column's best at p < alpha (the test paired by
    prompt or item; cells that cannot be paired stay unmarked)."""
    from ..compare import compare_metric

    for j, c in enumerate(table.columns):
        if c.per_class or c.direction is None:
            continue
        best = next((i for i, r in enumerate(table.rows) if table.ranks.get((i, j)) == 1 and r.measured), None)
        if best is None:
            continue
        reference = table.rows[best].entries.get(c.key)
        for i, row in enumerate(table.rows):
            cell = c.cell(row)
            if i == best or not row.measured or table.ranks.get((i, j)) == 1 or not cell or not cell.rankable(c.card):
                continue
            result = compare_metric(c.key, reference, row.entries.get(c.key), shuffles=10000 if test == "ar" else 0)
            p = result.ar_p_value if test == "ar" else result.p_value
            if p is not None and p < alpha:
                table.marks.add((i, j))


# --- side tables: per group of patients, over training steps -------------------------------------------

SUBGROUP_HEADER = ["model", "metric", "by", "groups: value (n)", "gap [95% CI]", "worst"]


def subgroup_rows(rows: list[Row]) -> list[tuple[str, list[str]]]:
    """(profile, cells) for every metric computed per group: whom each model serves worse."""
    out = []
    for row in rows:
        if not row.measured:
            continue
        for key, entry in sorted(row.entries.items()):
            for attribute, view in sorted(entry.subgroups.items()):
                card = find_card(key)
                column = Column(key, key, card)
                groups = "; ".join(_group_cell(g, r, view.min_size, column) for g, r in view.groups.items())
                gap = view.gap
                gap_text = "—" if gap.value is None else fmt(gap.value, column) + (
                    f" [{fmt(gap.ci[0], column)}, {fmt(gap.ci[1], column)}]" if gap.ci else "") + (
                    " of excess over floor" if gap.basis == "excess over floor" else "")
                if view.matched_n:
                    gap_text += f", matched n = {view.matched_n}"
                out.append((row.profile,
                            [row.display_name, f"{column.label if card is None else card.column_label(key)} "
                             f"{arrow(column)}", attribute, groups, gap_text, str(view.worst or "—")]))
    return out


def _group_cell(group: str, row: Any, min_size: int, column: Column) -> str:
    """"female 11.9 (48; floor 18.5 at 48, excess +5.1)": a set-level value beside its floor, or why none."""
    if row.value is None:
        return f"{group} {row.why_none(min_size)} ({row.n})"
    if row.excess is None:
        return f"{group} {fmt(row.value, column)} ({row.n})"
    return (f"{group} {fmt(row.value, column)} ({row.n}; floor {fmt(row.floor, column)} at {row.floor_n}, "
            f"excess {row.excess:+.1f})")


def by_profile(rows: list[tuple[str, list[str]]]) -> list[tuple[str, list[list[str]]]]:
    grouped: dict[str, list[list[str]]] = {}
    for profile, cells in rows:
        grouped.setdefault(profile, []).append(cells)
    return sorted(grouped.items())


CURVE_NOTE = ("Each checkpoint of the run by training step (RoentGen Tables 2 and 6 over training; `cxrgen-bench "
              "sweep`), with 95% CIs where computed; the plots below draw the same values.")


@dataclass(frozen=True)
class Curve:
    """A training run's checkpoints on the board: one row per step."""

    run: str
    profile: str
    columns: list[Column]
    rows: list[Row]


def training_curves(rows: list[Row]) -> list[Curve]:
    """Every run whose checkpoints are on the board."""
    from .plots import run_label

    runs: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        if row.measured and row.step is not None:
            runs.setdefault((row.profile, row.run), []).append(row)
    out = []
    for (profile, run), members in sorted(runs.items()):
        members = sorted(members, key=lambda r: (r.step, r.name))
        out.append(Curve(run_label(run), profile, headline_columns(members), members))
    return out


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


# --- what every format writes of a table ---------------------------------------------------------------

@dataclass(frozen=True)
class GridCell:
    text: str  # the value as the board prints it ("—" when missing), "± std [lo, hi]" included
    rank: int | None = None  # 1 best, 2 second best in its column
    marked: bool = False  # differs significantly from its column's best


def grid(table: Table) -> list[list[GridCell]]:
    """The table's cells, row by row, with their ranks and marks: Markdown, HTML and LaTeX dress the same grid."""
    return [[GridCell(cell_text(row, col), table.ranks.get((i, j)), (i, j) in table.marks)
             for j, col in enumerate(table.columns)] for i, row in enumerate(table.rows)]
