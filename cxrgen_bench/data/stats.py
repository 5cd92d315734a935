"""Table 1 of RoentGen (seeds/000): per-label counts and impression length statistics per split."""
from __future__ import annotations

import statistics
from typing import Any, Sequence

from .labels import CHEXPERT_14
from .tokens import clip_token_count


def table1_column(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    chars = [len(r["text"]) for r in rows]
    tokens = [clip_token_count(r["text"]) for r in rows]

    def mean_std(values: list[int]) -> tuple[float | None, float | None]:
        if not values:
            return None, None
        return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0

    mc, sc = mean_std(chars)
    mt, st = mean_std(tokens)
    return {"n": len(rows), "positives": {c: sum(1 for r in rows if r.get(c) == 1.0) for c in CHEXPERT_14},
            "chars": {"mean": mc, "std": sc}, "tokens": {"mean": mt, "std": st}}


# RoentGen Table 1's four columns: selections of MIMIC-CXR over the dataset's prompt options.
TABLE1_COLUMNS = {"PA train": dict(split="train", views=("PA",)), "PA/AP/LAT train": dict(split="train", views=None),
                  "MIMIC test": dict(split="test", views=None, max_tokens=None),
                  "P19 test": dict(split="p19", views=("PA",), limit=5000)}


def table1(dataset: Any, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Table 1 of a dataset: RoentGen's four columns for MIMIC-CXR, one column (``options``) otherwise.
    A ``limit`` in ``options`` overrides the P19 column's 5,000 prompts."""
    if getattr(dataset, "name", None) != "mimic-cxr":
        return {getattr(dataset, "name", "dataset"): table1_column(dataset.prompts(**options).rows)}
    columns = {}
    for name, override in TABLE1_COLUMNS.items():
        chosen = {**options, **override}
        if name == "P19 test" and options.get("limit"):
            chosen["limit"] = options["limit"]
        columns[name] = table1_column(dataset.prompts(**chosen).rows)
    return columns


def format_table1(columns: dict[str, dict[str, Any]]) -> str:
    names = list(columns)
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines.append("| n | " + " | ".join(f"{columns[n]['n']:,}" for n in names) + " |")
    for c in CHEXPERT_14:
        lines.append(f"| {c} | " + " | ".join(str(columns[n]["positives"][c]) for n in names) + " |")

    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.1f}"

    for label, key in (("Mean no. char.", ("chars", "mean")), ("Std", ("chars", "std")),
                       ("Mean no. tok.", ("tokens", "mean")), ("Std", ("tokens", "std"))):
        lines.append(f"| {label} | " + " | ".join(fmt(columns[n][key[0]][key[1]]) for n in names) + " |")
    return "\n".join(lines)
