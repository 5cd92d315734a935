"""Plots referenced by the leaderboard page, drawn for every metric whose card names one (`Card.plot`):
a metric's values by prompt token length (RoentGen Fig. 3, MS-SSIM) and a per-class heatmap (Table 3,
classifier AUROC). SVG with a fixed hash salt and no date, so equal entries give equal bytes."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..errors import RegistryError
from ..files import atomic_path
from ..metrics.card import Card


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


def by_token_length(entries: list[dict[str, Any]], card: Card, path: Path) -> Path | None:
    series = [(e["name"], e["metrics"][card.name]["details"]["by_token_length"]) for e in entries
              if e.get("metrics", {}).get(card.name, {}).get("details", {}).get("by_token_length")]
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, bins in series:
        x = [(b["tokens"][0] + b["tokens"][1]) / 2 for b in bins]
        ax.plot(x, [b["mean"] for b in bins], marker="o", label=name)
        lo = [b["ci95"][0] if b["ci95"] else b["mean"] for b in bins]
        hi = [b["ci95"][1] if b["ci95"] else b["mean"] for b in bins]
        ax.fill_between(x, lo, hi, alpha=0.2)
    ax.set_xlabel("CLIP token length of the prompt (bins of 10)")
    better = "lower" if card.direction == "lower" else "higher"
    ax.set_ylabel(f"mean {card.label} ({better} is better)")
    ax.legend(fontsize=7, loc="best")
    path = _save(fig, path)
    plt.close(fig)
    return path


def per_class_heatmap(entries: list[dict[str, Any]], card: Card, path: Path) -> Path | None:
    rows = [(e["name"] + (" †" if e["kind"] == "reported" else ""),
             e["metrics"][card.name]["details"].get(card.per_class_field, {}))
            for e in entries
            if e.get("metrics", {}).get(card.name, {}).get("details", {}).get(card.per_class_field)]
    if not rows:
        return None
    classes = sorted({c for _, per in rows for c in per})
    import numpy as np

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
    path = _save(fig, path)
    plt.close(fig)
    return path


# Card.plot name → (drawing function, file name under plots/, caption); {metric}/{label} filled in.
PLOTS: dict[str, tuple[Callable[[list[dict[str, Any]], Card, Path], Path | None], str, str]] = {
    "msssim_by_tokens": (by_token_length, "{metric}_by_tokens.svg",
                         "Intra-prompt {label} by CLIP token length (RoentGen Fig. 3)"),
    "per_class_heatmap": (per_class_heatmap, "{metric}_heatmap.svg", "Per-class {label}"),
}


def draw(entries: list[dict[str, Any]], cards: list[Card], folder: Path) -> dict[str, str]:
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
        if function(entries, card, folder / rel):
            drawn[caption.format(**names)] = rel
    return drawn
