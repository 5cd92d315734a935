"""Reading older results files: each schema version's files are validated against their own
(committed) schema, then brought to the current version, so stored leaderboard entries keep working.

v1 → v2: the image-only `image_set` block becomes `subject` (kind "image-set"); metric values lose
their copies of `direction` and `range` (the metric's card is the only source of both).
"""
from __future__ import annotations

import copy
from typing import Any

from ..errors import ResultsError


def v1_to_v2(result: dict[str, Any], where: str) -> dict[str, Any]:
    out = copy.deepcopy(result)
    out["schema_version"] = "2"
    image_set = out.pop("image_set", None)
    if image_set is not None:
        out["subject"] = {"kind": "image-set", **image_set}
    elif out.get("kind") == "measured":
        raise ResultsError(f"{where}: a version-1 measured result without image_set cannot be migrated")
    for entry in out.get("metrics", {}).values():
        entry.pop("direction", None)
        entry.pop("range", None)
    return out


MIGRATIONS = {"1": ("2", v1_to_v2)}
