"""Boards never mislead: a value whose bootstrap collapsed (or that is undefined) is neither bolded nor ranked,
a CI is printed only where it has width, the summary holds only what its rows have, and plot legends sit
outside the axes they describe."""
from __future__ import annotations

import copy

import pytest

from cxrgen_bench.leaderboard import plots
from cxrgen_bench.leaderboard.table import cell_text, grid, rows_of, summary_tables, tables_for
from cxrgen_bench.registry import card_for

from .results_factory import measured


def _named(result: dict, name: str) -> dict:
    return {**result, "name": name}


def _with_ms(name: str, value: float, ci: list[float] | None, std: float | None = None) -> dict:
    result = measured(name)
    entry = result["metrics"]["ms_ssim"]
    entry.pop("bootstrap")
    entry.update(value=value, std=std)
    if ci is not None:
        entry["ci95"] = ci
    return _named(result, name)


def _ms_table(results: list[dict]):
    table = next(t for t in tables_for(results) if any(c.key == "ms_ssim" for c in t.columns))
    j = next(j for j, c in enumerate(table.columns) if c.key == "ms_ssim")
    return table, j


def test_a_collapsed_ci_is_neither_bolded_nor_ranked_and_says_why():
    # the reader-κ case: 0.000 [0.000, 0.000] used to be bolded as the best value
    collapsed = _with_ms("collapsed", 0.10, [0.10, 0.10], std=0.508)
    real = _with_ms("real", 0.30, [0.25, 0.35])
    worse = _with_ms("worse", 0.40, [0.35, 0.45])
    table, j = _ms_table([collapsed, real, worse])
    ranks = {table.rows[i].name: rank for (i, jj), rank in table.ranks.items() if jj == j}
    assert "collapsed" not in ranks and ranks == {"real": 1, "worse": 2}
    cells = {row.name: cell for row, cells in zip(table.rows, grid(table)) for cell in [cells[j]]}
    assert cells["collapsed"].text == "0.100 ± 0.508 (no CI: every resample equal)" and cells["collapsed"].rank is None
    assert cells["real"].text.endswith("[0.250, 0.350]")


def test_a_collapsed_ci_at_the_end_of_the_range_is_the_best_result_and_still_ranked():
    perfect = _with_ms("perfect", 0.0, [0.0, 0.0])  # MS-SSIM diversity: 0 is the range's end
    other = _with_ms("other", 0.30, [0.25, 0.35])
    table, j = _ms_table([perfect, other])
    i = next(i for i, r in enumerate(table.rows) if r.name == "perfect")
    assert table.ranks[(i, j)] == 1 and cell_text(table.rows[i], table.columns[j]) == "0.000 (every resample)"


def test_a_ci_narrower_than_the_printed_precision_is_not_printed():
    narrow = _with_ms("narrow", 0.30, [0.3001, 0.3004])
    table, j = _ms_table([narrow, _with_ms("other", 0.4, [0.35, 0.45])])
    i = next(i for i, r in enumerate(table.rows) if r.name == "narrow")
    assert cell_text(table.rows[i], table.columns[j]) == "0.300"


def test_an_undefined_value_is_never_ranked():
    nan = _with_ms("nan", float("nan"), None)
    table, j = _ms_table([nan, _with_ms("a", 0.3, [0.25, 0.35]), _with_ms("b", 0.4, [0.35, 0.45])])
    assert [r.name for r in table.rows][-1] == "nan"  # undefined sorts last
    assert not any(table.rows[i].name == "nan" for (i, jj) in table.ranks if jj == j)
    assert cell_text(table.rows[-1], table.columns[j]) == "—"


def test_the_summary_holds_rows_with_two_headline_values_and_only_the_columns_they_fill():
    a, b = _named(measured("a"), "a"), _named(measured("b", fid=12.0), "b")
    memorisation_only = copy.deepcopy(a)
    memorisation_only["metrics"] = {"classifier_auroc": a["metrics"]["classifier_auroc"]}
    memorisation_only["name"], memorisation_only["model"] = "lonely", {"name": "lonely"}
    summary = summary_tables(tables_for([a, b, memorisation_only]))
    assert len(summary) == 1
    rows = [r.name for r in summary[0].rows]
    assert sorted(rows) == ["a", "b"]
    assert all(any(c.cell(r) for r in summary[0].rows) for c in summary[0].columns)


def _captured(monkeypatch) -> list:
    figures = []
    real_save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: (figures.append(fig), real_save(fig, path))[1])
    monkeypatch.setattr(plots._pyplot(), "close", lambda fig: None)  # keep the figure to measure it
    return figures


def _legend_clear_of_axes(fig) -> None:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [(ax, ax.get_legend()) for ax in fig.axes if ax.get_legend() is not None]
    assert legends
    for ax, legend in legends:
        box, inside = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert box.x0 >= inside.x1 or box.y1 <= inside.y0 or box.y0 >= inside.y1, (box, inside)


def _with_groups(name: str) -> dict:
    result = _named(measured(name), name)
    groups = {g: {"value": v, "n": 9, "ci": [v - 3, v + 3]} for g, v in (("female", 8.0), ("male", 9.5))}
    result["metrics"]["fid[xrv-densenet121]"]["subgroups"] = {
        "sex": {"groups": groups, "gap": {"value": 1.5, "ci": [0.0, 4.0]}, "worst": "male", "min_size": 8}}
    return result


@pytest.mark.parametrize("draw", ["by_token_length", "by_subgroup", "checkpoint_curve"])
def test_plot_legends_sit_outside_the_axes(tmp_path, monkeypatch, draw):
    figures = _captured(monkeypatch)
    rows = rows_of([_with_groups(f"model-{i}") for i in range(4)])
    if draw == "by_token_length":
        assert plots.by_token_length(rows, card_for("ms_ssim"), tmp_path / "p.svg")
    elif draw == "by_subgroup":
        assert plots.by_subgroup(rows, "fid[xrv-densenet121]", "sex", tmp_path / "p.svg")
    else:
        stepped = []
        for step in (100, 200):
            r = _with_groups(f"ckpt-{step}")
            r["subject"] = {"step": step, "run": "run-1"}
            stepped.append(r)
        assert plots.checkpoint_curve(rows_of(stepped), card_for("classifier_auroc"), tmp_path / "p.svg")
    _legend_clear_of_axes(figures[-1])


def test_every_group_without_a_value_says_why_on_the_terminal_and_the_board():
    from cxrgen_bench.cli.score import subgroup_line
    from cxrgen_bench.leaderboard.table import subgroup_rows
    from cxrgen_bench.results.entry import SubgroupView

    view = SubgroupView.from_json({
        "groups": {"female": {"value": None, "n": 4, "error": "no reference image of group 'female'"},
                   "male": {"value": 9.5, "n": 4, "ci": [8.0, 11.0]},
                   "other": {"value": None, "n": 1, "too_small": True},
                   "?": {"value": None, "n": 2, "unknown": True}},
        "gap": {"value": None}, "worst": None, "min_size": 2, "ranked": ["female", "male"]})
    line = subgroup_line("sex", view)
    assert "female n/a: no reference image of group 'female' (n=4)" in line
    assert "other too small (n < 2) (n=1)" in line and "? unknown group" in line
    assert "no gap: one group of n ≥ 2 with a value" in line
    result = _named(measured("m"), "m")
    result["metrics"]["fid[xrv-densenet121]"]["subgroups"] = {"sex": view.to_json()}
    (_, cells), = subgroup_rows(rows_of([result]))
    assert "female n/a: no reference image" in cells[3] and "too small (n < 2)" in cells[3]
