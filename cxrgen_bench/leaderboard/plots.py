"""Plots referenced by the leaderboard page: MS-SSIM by prompt token length (RoentGen Fig. 3) and a
per-class AUROC heatmap. SVG with a fixed hash salt and no date, so equal entries give equal bytes."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..files import atomic_path


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


def msssim_by_tokens(entries: list[dict[str, Any]], path: Path) -> Path | None:
    series = [(e["name"], e["metrics"]["ms_ssim"]["details"]["by_token_length"]) for e in entries
              if e.get("metrics", {}).get("ms_ssim", {}).get("details", {}).get("by_token_length")]
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
    ax.set_ylabel("mean intra-prompt MS-SSIM (lower = more diverse)")
    ax.legend(fontsize=7, loc="best")
    path = _save(fig, path)
    plt.close(fig)
    return path


def auroc_heatmap(entries: list[dict[str, Any]], path: Path) -> Path | None:
    rows = [(e["name"] + (" †" if e["kind"] == "reported" else ""),
             e["metrics"]["classifier_auroc"]["details"].get("per_class", {}))
            for e in entries if e.get("metrics", {}).get("classifier_auroc", {}).get("details", {}).get("per_class")]
    if not rows:
        return None
    classes = sorted({c for _, per in rows for c in per})
    import numpy as np

    grid = np.array([[np.nan if per.get(c) is None else per[c] for c in classes] for _, per in rows], dtype=float)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(classes), 0.8 + 0.28 * len(rows)))
    image = ax.imshow(grid, vmin=0.4, vmax=1.0, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), [name for name, _ in rows])
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if grid[i, j] < 0.7 else "black")
    fig.colorbar(image, ax=ax, label="AUROC")
    path = _save(fig, path)
    plt.close(fig)
    return path
