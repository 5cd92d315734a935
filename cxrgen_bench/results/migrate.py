"""Reading older results files: each schema version's files are validated against their own
(committed) schema, then brought to the current version, so stored leaderboard entries keep working.

v1 → v2: the image-only `image_set` block becomes `subject` (kind "image-set"); metric values lose
their copies of `direction` and `range` (the metric's card is the only source of both). Metrics that
version 1 knew only as typed-in paper numbers were stored in percent; version 2 stores every score as
a fraction (the board shows percent where the card says so); CheXpert@10 is the chexpert_at_k
metric (k = 10 under roentgen2022), and retrieval precision and the top-1 impression's scores are
options of one metric each (i2i_precision@5 → i2i_precision[5], i2t_bertscore → i2t_factual[bertscore],
rrg_bleu4 → rrg[bleu4]).
"""
from __future__ import annotations

import copy
from typing import Any

from ..errors import ResultsError


V1_PERCENT = ("rrg_", "i2i_precision@", "i2t_", "chexpert@10")  # keys version 1 stored in percent
V1_RENAMED = {"chexpert@10": "chexpert_at_k"}  # metric names
# whole keys: retrieval precision and the top-1 impression's scores became options of one metric each
V1_KEYS = {**{f"{d}_precision@{k}": f"{d}_precision[{k}]" for d in ("i2i", "i2t") for k in (5, 10, 50)},
           **{f"i2t_{s}": f"i2t_factual[{s}]" for s in ("f1_chexbert", "bertscore", "factent", "radgraph")},
           **{f"rrg_{s}": f"rrg[{s}]" for s in ("bleu4", "rouge_l", "f1_chexbert", "bertscore", "factent",
                                                "factentnli", "radgraph")}}


def _v1_key(key: str) -> str:
    if key in V1_KEYS:
        return V1_KEYS[key]
    base, sep, rest = key.partition("[")
    return V1_RENAMED.get(base, base) + sep + rest


def _v1_percent(entry: dict[str, Any]) -> None:
    for field in ("value", "std"):
        if entry.get(field) is not None:
            entry[field] = entry[field] / 100
    for name in ("per_class", "per_finding"):
        per = (entry.get("details") or {}).get(name)
        if per:
            entry["details"][name] = {c: None if v is None else v / 100 for c, v in per.items()}


def v1_to_v2(result: dict[str, Any], where: str) -> dict[str, Any]:
    out = copy.deepcopy(result)
    out["schema_version"] = "2"
    image_set = out.pop("image_set", None)
    if image_set is not None:
        out["subject"] = {"kind": "image-set", **image_set}
    elif out.get("kind") == "measured":
        raise ResultsError(f"{where}: a version-1 measured result without image_set cannot be migrated")
    metrics = {}
    for key, entry in out.get("metrics", {}).items():
        entry.pop("direction", None)
        entry.pop("range", None)
        if key.startswith(V1_PERCENT):
            _v1_percent(entry)
        new_key = _v1_key(key)
        if "key" in entry or new_key != key:
            entry["key"] = new_key
        entry["metric"] = new_key.split("[", 1)[0]
        metrics[new_key] = entry
    out["metrics"] = metrics
    return out


MIGRATIONS = {"1": ("2", v1_to_v2)}
