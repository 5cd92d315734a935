"""The tables the demo prints (and README.md shows: scripts/readme_tables.py copies them in): one row per
stand-in, columns, labels and arrows from the metric cards."""
from __future__ import annotations

from typing import Any

from ..leaderboard.table import Column, arrow, fmt, headline_columns, option_rows, rows_of, unique_labels
from ..registry import card_for
from ..results.entry import ResultView
from .runs import REAL, Demo, Results

IMAGE_SECTIONS = ("fidelity", "laterality", "auroc")
FD_PHANTOM = "fid[phantom-evaluator]"


def summary_table(results: Results, what: str = "stand-in", sections: tuple[str, ...] | None = None) -> str:
    """One row per stand-in, one column per headline value of the board ``sections``, labels and arrows
    from the metric cards (a label two sections share says which: "i2i P@1", "i2t P@1")."""
    rows = option_rows(rows_of({**r, "name": name} for name, r in results.items()))  # a study's mixes: a row each
    columns = [c for c in headline_columns(rows)
               if sections is None or (c.card is not None and c.card.board_section.slug in sections)]
    columns = unique_labels(columns, [c.card.board_section for c in columns])
    lines = [f"| {what} | " + " | ".join(f"{c.label} {arrow(c)}" for c in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for row in rows:
        cells = [fmt(cell.value, c) if (cell := c.cell(row)) else "—" for c in columns]
        lines.append(f"| {row.model_name if row.option else row.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _number(value: float | None, digits: str = ".3f") -> str:
    return "—" if value is None else format(value, digits)


def _gap(view: Any) -> tuple[str, str]:
    """A view's gap with its interval, and its worst group ("—" with fewer than two groups ranked)."""
    gap = view.gap if view else None
    if gap is None or gap.value is None:
        return "—", "—"
    ci = f" [{gap.ci[0]:.1f}, {gap.ci[1]:.1f}]" if gap.ci else ""
    return f"{gap.value:.1f}{ci}", str(view.worst or "—")


def demographics_table(results: Results) -> str:
    """Adherence, and per sex FD's excess over that sex's floor (two disjoint sets of its real phantoms), the
    gap between the sexes' excesses and the worst: the stand-in serving women worse stands out, the faithful
    one's interval holds 0."""
    adherence, fd = card_for("adherence"), card_for(FD_PHANTOM)
    sexes = ("female", "male")
    head = [*(f"{adherence.column_label(f'adherence[{a}]')} {arrow(Column('', '', adherence))}" for a in ("sex", "age")),
            *(f"{fd.column_label(FD_PHANTOM)} excess {s} {arrow(Column('', '', fd))}" for s in sexes),
            "gap ↓ [95% CI]", "worst"]
    lines = ["| stand-in | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
    for name, result in results.items():
        entries = ResultView.of(result).entries
        view = entries[FD_PHANTOM].subgroup("sex") if FD_PHANTOM in entries else None
        groups = view.groups if view else {}
        cells = [_number(entries[f"adherence[{a}]"].value) for a in ("sex", "age")]
        cells += [_number(groups[s].excess if s in groups else None, "+.1f") for s in sexes]
        cells += list(_gap(view))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def findings_table(results: Results) -> str:
    """Per finding, FD's excess over that finding's floor (two disjoint sets of its real phantoms; groups of
    too few prompts left out), the gap between the findings' excesses with its simultaneous interval, and the
    worst: the stand-in that fails one finding has its worst there with an interval above 0; the faithful
    one's holds 0."""
    views = {}
    for name, result in results.items():
        entry = ResultView.of(result).entry(FD_PHANTOM)
        views[name] = entry.subgroup("finding") if entry is not None else None  # a failed FD has no groups
    groups = sorted({g for v in views.values() if v for g, e in v.groups.items() if e.excess is not None})
    down = arrow(Column("", "", card_for(FD_PHANTOM)))
    lines = ["| stand-in | " + " | ".join(f"{g} {down}" for g in groups) + f" | gap {down} [95% CI] | worst |",
             "|---|" + "---|" * (len(groups) + 2)]
    for name, view in views.items():
        cells = [view.groups[g].excess if view and g in view.groups else None for g in groups]
        lines.append(f"| {name} | " + " | ".join(_number(v, "+.1f") for v in cells) + " | "
                     + " | ".join(_gap(view)) + " |")
    return "\n".join(lines)


def reader_tables(results: Results) -> str:
    """The reader study in the paper's form (pooled over the two readers), then the readers' agreement."""
    lines = ["| generator | Realism ↓ (2: real much more realistic) | Leaned real ↓ | Alignment ↑ |", "|---|---|---|---|"]
    agreement: dict[str, dict[str, Any]] = {}
    for name, result in sorted(results.items()):
        entries = ResultView.of(result).entries

        def cell(key: str, percent: bool = False) -> str:
            e = entries.get(key)
            if e is None or e.value is None:
                return "—"
            return f"{100 * e.value:.0f}%" if percent else f"{e.value:+.2f} ± {e.std or 0:.2f}"
        lines.append(f"| {name} | {cell('reader_realism[pooled]')} | {cell('reader_lean_real[pooled]', True)} | "
                     f"{cell('reader_alignment[pooled]')} |")
        for task in ("realism", "alignment"):
            for stat in ("kappa", "alpha"):
                e = entries.get(f"reader_{stat}[{task}]")
                whole = e.details.get("whole_study") if e is not None else None
                if whole and whole.get("value") is not None:
                    agreement.setdefault(task, {})[stat] = whole["value"]
    lines += ["", "| readers' agreement (all items) | κ (quadratic) ↑ | α (ordinal) ↑ |", "|---|---|---|"]
    for task, values in agreement.items():
        lines.append(f"| {task} | {values.get('kappa', float('nan')):.2f} | {values.get('alpha', float('nan')):.2f} |")
    return "\n".join(lines)


def with_metrics(results: Results, more: Results) -> Results:
    """Each run's metrics with those of another run of the same stand-in beside them (one table row each)."""
    return {name: {**r, "metrics": {**r["metrics"], **more.get(name, {}).get("metrics", {})}}
            for name, r in results.items()}


def printed_tables(demo: Demo) -> list[str]:
    """The demo's tables in the order it prints them."""
    runs = demo.runs
    generated = {k: v for k, v in runs["scoring"].items() if k != REAL}
    return [summary_table(generated, sections=IMAGE_SECTIONS),
            summary_table(generated, sections=("beyond_fid",)),
            summary_table(runs["scoring"], sections=("rrg",)),
            summary_table(runs["retrieval"], sections=("i2i", "i2t")),
            demographics_table(runs["demographics"]),
            findings_table(runs["per finding"]),
            reader_tables(runs["reader study"]),
            summary_table(runs["text encoders"], "text encoder"),
            summary_table(runs["augmentation"], "training mix", sections=("augmentation",)),
            summary_table(runs["reconstruction"], "autoencoder", sections=("reconstruction",)),
            summary_table(with_metrics(runs["memorisation"], runs["re-identification"]), "stand-in",
                          sections=("memorisation",))]
