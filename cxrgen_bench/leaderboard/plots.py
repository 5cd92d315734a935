"""Plots referenced by the leaderboard page, drawn for every metric whose card names one (`Card.plot`):
a metric's values by prompt token length (RoentGen Fig. 3, MS-SSIM) and a per-class heatmap (Table 3,
classifier AUROC). SVG with a fixed hash salt and no date, so equal entries give equal bytes."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..card import Card
from ..errors import RegistryError
from ..files import atomic_path
from ..registry import find_card

if TYPE_CHECKING:
    from .table import Row


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "cxrgen-bench", "svg.fonttype": "none", "font.size": 9})
    return plt


def _save(fig: Any, path: Path) -> Path:
    with atomic_path(path, suffix=".svg") as tmp:
        fig.savefig(tmp, format="svg", metadata={"Date": None, "Creator": "cxrgen-bench"}, bbox_inches="tight")
    return path


def legend_outside(ax: Any, fontsize: int) -> None:
    """The legend right of the axes: "best" still lands on error bars and bands when the series fill the
    plot (savefig's tight box widens the figure to keep it)."""
    ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)


def _calibration_note(fig: Any, rows: list[Row]) -> None:
    """A plot cut out of the page keeps the warning the tables carry."""
    if any(r.calibration for r in rows):
        fig.text(0.01, 0.995, "calibration profile: phantom radiographs, not a CXR result", color="#a33",
                 fontsize=7, ha="left", va="top")


def band(bins: list[dict[str, Any]], value_range: tuple[float | None, float | None]) -> tuple[np.ndarray, np.ndarray]:
    """The CI band of each bin (its mean where it has none), clipped to the metric's range: a CI re-centred
    on the bin's mean can leave it (an MS-SSIM band above 1)."""
    lo = np.array([b["ci95"][0] if b.get("ci95") else b["mean"] for b in bins], dtype=float)
    hi = np.array([b["ci95"][1] if b.get("ci95") else b["mean"] for b in bins], dtype=float)
    return np.clip(lo, value_range[0], value_range[1]), np.clip(hi, value_range[0], value_range[1])


def _details(row: Row, key: str, field: str) -> Any:
    entry = row.entries.get(key)
    return entry.details.get(field) if entry is not None else None


def by_token_length(rows: list[Row], card: Card, path: Path) -> Path | None:
    shown = [r for r in rows if _details(r, card.name, "by_token_length")]
    if not shown:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for r in shown:
        bins = _details(r, card.name, "by_token_length")
        x = [(b["tokens"][0] + b["tokens"][1]) / 2 for b in bins]
        line, = ax.plot(x, [b["mean"] for b in bins], marker="o", label=r.display_name)
        ax.fill_between(x, *band(bins, card.value_range), alpha=0.2, color=line.get_color())
        for xi, b in zip(x, bins):
            if b.get("n") is not None:
                ax.annotate(f"n={b['n']}", (xi, b["mean"]), textcoords="offset points", xytext=(0, 6), fontsize=8,
                            ha="center", color=line.get_color())
    ax.set_xlabel("CLIP token length of the prompt (bins of 10; n = prompts in the bin)")
    better = "lower" if card.direction == "lower" else "higher"
    ax.set_ylabel(f"mean {card.label} ({better} is better)")
    legend_outside(ax, 7)
    _calibration_note(fig, shown)
    path = _save(fig, path)
    plt.close(fig)
    return path


def per_class_heatmap(board_rows: list[Row], card: Card, path: Path) -> Path | None:
    shown = [r for r in board_rows if _details(r, card.name, card.per_class_field)]
    rows = [(r.display_name, _details(r, card.name, card.per_class_field)) for r in shown]
    if not rows:
        return None
    classes = sorted({c for _, per in rows for c in per})
    grid = np.array([[np.nan if per.get(c) is None else per[c] for c in classes] for _, per in rows], dtype=float)
    lo, hi = card.value_range
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(classes), 0.8 + 0.28 * len(rows)))
    vmin = 0.4 if (lo, hi) == (0.0, 1.0) else np.nanmin(grid)  # AUROC-like scores: chance and below share a colour
    image = ax.imshow(grid, vmin=vmin, vmax=hi if hi is not None else np.nanmax(grid), cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), [name for name, _ in rows])
    middle = (vmin + (hi if hi is not None else np.nanmax(grid))) / 2
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if grid[i, j] < middle else "black")
    fig.colorbar(image, ax=ax, label=card.label)
    _calibration_note(fig, shown)
    path = _save(fig, path)
    plt.close(fig)
    return path


def run_label(run: str) -> str:
    """A run as boards name it: the run folder (RUN for RUN/checkpoints), else the folder itself."""
    path = Path(run)
    return (path.parent.name if path.name == "checkpoints" else path.name) or run


def checkpoint_curve(rows: list[Row], card: Card, path: Path, key: str | None = None) -> Path | None:
    """A metric (``key``, default the card's own) over the training steps of each run (entries whose subject
    is a trainer checkpoint: `score` on a checkpoints folder, `sweep`): for the card's own key one panel per
    class of its breakdown that the entries have, then the headline value, with its 95% CI as a band where
    the entries have one."""
    key = key or card.name
    runs: dict[str, list[tuple[int, Any]]] = {}
    shown = []
    for r in rows:
        metric = r.entries.get(key)
        if r.step is not None and metric is not None and metric.value is not None:
            runs.setdefault(r.run, []).append((r.step, metric))
            shown.append(r)
    if not runs:
        return None
    present = {c for points in runs.values() for _, m in points for c in m.per_class(card.per_class_field)} \
        if key == card.name else set()
    headline = (card.headline_label or card.label) if key == card.name else card.column_label(key)
    panels = [c for c in card.per_class if c in present] + [headline]
    factor = 100.0 if card.scale == "percent" else 1.0
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(max(3.2, 2.6 * len(panels)), 2.8), squeeze=False)
    for run, points in sorted(runs.items()):
        points.sort(key=lambda p: p[0])
        steps = [step for step, _ in points]
        for ax, panel in zip(axes[0], panels):
            if panel == panels[-1]:
                values = [m.value for _, m in points]
            else:
                values = [m.per_class(card.per_class_field).get(panel) for _, m in points]
            line, = ax.plot(steps, [np.nan if v is None else factor * v for v in values], marker="o",
                            label=run_label(run))
            if panel == panels[-1] and any(m.ci95 for _, m in points):
                lo, hi = band([{"mean": m.value, "ci95": m.ci95} for _, m in points], card.value_range)
                ax.fill_between(steps, factor * lo, factor * hi, alpha=0.2, color=line.get_color())
            ax.set_title(panel, fontsize=8)
            ax.set_xlabel("training step")
    arrow = {"lower": " ↓", "higher": " ↑"}.get(card.direction or "", "")
    axes[0][0].set_ylabel(card.label + (" (%)" if factor == 100.0 else "") + arrow)
    fig.tight_layout()
    legend_outside(axes[0][-1], 6)
    _calibration_note(fig, shown)
    path = _save(fig, path)
    plt.close(fig)
    return path


# Card.plot name → (drawing function, file name under plots/, caption); {metric}/{label} filled in.
PLOTS: dict[str, tuple[Callable[[list[Row], Card, Path], Path | None], str, str]] = {
    "msssim_by_tokens": (by_token_length, "{metric}_by_tokens.svg",
                         "Intra-prompt {label} by CLIP token length (RoentGen Fig. 3)"),
    "per_class_heatmap": (per_class_heatmap, "{metric}_heatmap.svg", "Per-class {label}"),
    "checkpoint_curve": (checkpoint_curve, "{metric}_over_training.svg",
                         "{label} of the text encoder over training steps (RoentGen Table 6), one line per run"),
}


def _view(row: Row, key: str, attribute: str) -> Any:
    entry = row.entries.get(key)
    return entry.subgroup(attribute) if entry is not None else None


def by_subgroup(rows: list[Row], key: str, attribute: str, path: Path) -> Path | None:
    """A metric per group of patients, one series per model, with each group's 95% CI as an error bar."""
    shown = [r for r in rows if _view(r, key, attribute)]
    if not shown:
        return None
    groups = sorted({g for r in shown for g, v in _view(r, key, attribute).groups.items() if v.value is not None})
    if not groups:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.8, 1.1 * len(groups) + 2.0), 3.4))
    width = 0.8 / len(shown)
    for i, row in enumerate(shown):
        per_group = _view(row, key, attribute).groups
        x = np.arange(len(groups)) + (i - (len(shown) - 1) / 2) * width
        values = [per_group[g].value if g in per_group else None for g in groups]
        y = np.array([np.nan if v is None else v for v in values], dtype=float)
        cis = [per_group[g].ci if g in per_group else None for g in groups]
        lo = [max(0.0, v - ci[0]) if ci and v is not None else 0.0 for ci, v in zip(cis, values)]
        hi = [max(0.0, ci[1] - v) if ci and v is not None else 0.0 for ci, v in zip(cis, values)]
        ax.errorbar(x, y, yerr=[lo, hi], fmt="o", capsize=3, label=row.display_name)
    ax.set_xticks(range(len(groups)), groups, rotation=30 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center")
    ax.set_xlabel(f"group ({attribute}); bars: 95% CI")
    ax.set_ylabel(key)
    legend_outside(ax, 7)
    _calibration_note(fig, shown)
    path = _save(fig, path)
    plt.close(fig)
    return path


MAX_CURVES = 16  # curves over training steps drawn beyond the cards' own (a board stays readable)


def file_slug(text: str, keep: str = "") -> str:
    """A results key as part of a file name: fid[xrv-densenet121] → fid-xrv-densenet121 (characters in
    ``keep`` stay: "_" keeps a card's name as the card-named plots write it)."""
    return "".join(c if c.isalnum() or c in keep else "-" for c in text).strip("-")


def draw(rows: list[Row], cards: list[Card], folder: Path) -> dict[str, str]:
    """Every plot the cards ask for: caption → path relative to the board folder."""
    drawn = {}
    for card in cards:
        if not card.plot:
            continue
        if card.plot not in PLOTS:
            raise RegistryError(f"metric card {card.name!r} names plot {card.plot!r}; known plots: {', '.join(PLOTS)}")
        function, file, caption = PLOTS[card.plot]
        names = {"metric": card.name, "label": card.label}
        rel = "plots/" + file.format(**names)
        if function(rows, card, folder / rel):
            drawn[caption.format(**names)] = rel
    # every other metric of checkpoint entries (`sweep`: Table 2 over training steps), headline only
    stepped = [r for r in rows if r.step is not None]
    keys = sorted({k for r in stepped for k, m in r.entries.items() if m.value is not None})
    for key in keys[:MAX_CURVES]:
        card = find_card(key)
        if card is None or (card.plot == "checkpoint_curve" and key == card.name):
            continue  # no direction to draw it by, or drawn above with its classes
        rel = f"plots/{file_slug(key, keep='_')}_over_training.svg"
        if checkpoint_curve(rows, card, folder / rel, key):
            drawn[f"{card.column_label(key)} over training steps, one line per run; bands: 95% CI where computed"] = rel
    # per group of patients (score --by): the headline metric of each attribute, as the Subgroups table lists it
    views = sorted({(key, attribute) for r in rows for key, m in r.entries.items()
                    for attribute, view in m.subgroups.items()
                    if view.gap.value is not None})  # one group: nothing to compare
    for key, attribute in views[:8]:
        rel = f"plots/subgroups-{file_slug(f'{key}-by-{attribute}')}.svg"
        if by_subgroup(rows, key, attribute, folder / rel):
            drawn[f"{key} by {attribute} (score --by)"] = rel
    return drawn
