"""Reading and writing results files: validated against the committed JSON schema both ways,
written atomically, with stable formatting (sorted keys) so equal runs give equal bytes. Files of an
older schema version are validated against their own schema and migrated on read (migrate.py).

Beyond the schema, every number must be sound: metric values, stds and CI ends finite (JSON readers
accept NaN and Infinity), values inside their metric card's range, and a `complete` result holds no
failed metric. A file that breaks one is refused by every reader (gate, compare, leaderboard)."""
from __future__ import annotations

import json
import math
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..files import atomic_write_text
from ..card import base_of
from ..errors import ResultsError, ResultsNotWritten
from ..registry import find_card

# Rounding can carry a value a hair past its range's end (float32 cosines of identical vectors sum to
# 1 + 1e-7): that is still the end. Beyond this (relative to the end, at least 1) it is a wrong number.
RANGE_SLACK = 1e-6

SCHEMA_VERSION = "2"
SCHEMA_PATH = Path(__file__).with_name(f"schema-v{SCHEMA_VERSION}.json")


@lru_cache(maxsize=None)
def schema(version: str = SCHEMA_VERSION) -> dict[str, Any]:
    return json.loads(Path(__file__).with_name(f"schema-v{version}.json").read_text(encoding="utf-8"))


def to_json_safe(obj: Any) -> Any:
    """JSON has no NaN/inf: they become null, which the schema and readers understand as 'undefined'."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): to_json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return to_json_safe(obj.item())
    return obj


def _check(result: dict[str, Any], version: str, where: str) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema(version))
    errors = sorted(validator.iter_errors(result), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        path = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise ResultsError(f"{where}: does not match the results schema (version {version}) at {path}: "
                           f"{first.message}" + (f" (+{len(errors) - 1} more problems)" if len(errors) > 1 else ""))


def profile_label(profile: dict[str, Any]) -> str:
    """A results file's profile as boards and messages name it (with the settings --set changed)."""
    overrides = profile.get("overrides") or []
    return f"{profile['name']} v{profile['version']}" + (f" + {', '.join(overrides)}" if overrides else "")


def _outside(value: float, value_range: tuple[float | None, float | None]) -> bool:
    lo, hi = value_range
    return ((lo is not None and value < lo - RANGE_SLACK * max(1.0, abs(lo)))
            or (hi is not None and value > hi + RANGE_SLACK * max(1.0, abs(hi))))


def _check_numbers(result: dict[str, Any], where: str) -> None:
    """What the JSON schema cannot say: numbers are finite and possible, and `complete` means complete."""
    for key, entry in result["metrics"].items():
        if entry.get("error") and result["status"] == "complete":
            raise ResultsError(f"{where}: status is 'complete' but metric {key!r} failed "
                               f"({entry['error'].splitlines()[0]}); a result with a failed metric is 'partial'")
        if entry.get("undefined") and result["status"] == "complete":
            raise ResultsError(f"{where}: status is 'complete' but metric {key!r} is undefined "
                               f"({entry['undefined']}); a result with an undefined value is 'partial'")
        replicates = (entry.get("bootstrap") or {}).get("replicates") or []  # the gate's p-values come from them
        numbers = {"value": entry.get("value"), "std": entry.get("std"),
                   **{f"ci95[{i}]": v for i, v in enumerate(entry.get("ci95") or [])},
                   **{f"bootstrap replicate {i}": v for i, v in enumerate(replicates)}}
        for field, number in numbers.items():
            if number is not None and not math.isfinite(number):
                raise ResultsError(f"{where}: metric {key!r} has {field} {number!r}, not a finite number (an "
                                   "undefined value is stored as null)")
        card = find_card(entry.get("metric") or base_of(key))  # unknown metrics: the finite check only
        value = entry.get("value")
        if card is not None and value is not None and _outside(value, card.value_range):
            lo, hi = card.value_range
            lo, hi = "-inf" if lo is None else lo, "inf" if hi is None else hi
            raise ResultsError(f"{where}: metric {key!r} has value {value!r}, outside the range [{lo}, {hi}] of "
                               f"the {card.name} metric's card")


def validate(result: dict[str, Any], where: str = "result") -> dict[str, Any]:
    """Validate a current-version result (what the suite writes)."""
    version = result.get("schema_version") if isinstance(result, dict) else None
    if version != SCHEMA_VERSION:
        raise ResultsError(f"{where}: schema_version {version!r} is not the current version {SCHEMA_VERSION}; "
                           "read older files with read_result/upgrade")
    _check(result, SCHEMA_VERSION, where)
    _check_numbers(result, where)
    return result


def upgrade(result: Any, where: str = "result") -> dict[str, Any]:
    """Any supported version → the current one, each step validated against its own schema."""
    from .migrate import MIGRATIONS

    version = result.get("schema_version") if isinstance(result, dict) else None
    while isinstance(result, dict) and version in MIGRATIONS:
        _check(result, version, where)
        version, step = MIGRATIONS[version]
        result = step(result, where)
    if version != SCHEMA_VERSION:
        raise ResultsError(f"{where}: schema_version {version!r} is not supported (this cxrgen-bench reads "
                           f"versions {', '.join(sorted([*MIGRATIONS, SCHEMA_VERSION]))}); re-score with this "
                           "version or upgrade cxrgen-bench")
    return validate(result, where)


def dumps(result: dict[str, Any]) -> str:
    return json.dumps(to_json_safe(result), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def _save_elsewhere(path: Path, text: str) -> Path | None:
    """A copy of results that could not be written to ``path``, in the temporary folder (often another
    file system than a full or read-only destination); None when that fails too."""
    try:
        fd, name = tempfile.mkstemp(prefix=f"{path.stem}-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return Path(name)
    except OSError:
        return None


def write_result(result: dict[str, Any], path: str | Path) -> Path:
    """Validate and write atomically. If the write fails, the results are kept elsewhere and
    `ResultsNotWritten` says where: the metrics behind them may have taken hours."""
    path = Path(path)
    result = to_json_safe(result)
    validate(result, str(path))
    text = dumps(result)
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise ResultsNotWritten(path, exc, _save_elsewhere(path, text), text) from exc
    return path


def read_result(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise ResultsError(f"{path}: is a folder; give a results file (.json) inside it")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: results file not found") from None
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read the results file: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: not valid JSON: {exc}") from exc
    return upgrade(data, str(path))
