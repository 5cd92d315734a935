"""Reading and writing results files: validated against the committed JSON schema both ways,
written atomically, with stable formatting (sorted keys) so equal runs give equal bytes. Files of an
older schema version are validated against their own schema and migrated on read (migrate.py)."""
from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..files import atomic_write_text
from ..errors import ResultsError

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


def validate(result: dict[str, Any], where: str = "result") -> dict[str, Any]:
    """Validate a current-version result (what the suite writes)."""
    version = result.get("schema_version") if isinstance(result, dict) else None
    if version != SCHEMA_VERSION:
        raise ResultsError(f"{where}: schema_version {version!r} is not the current version {SCHEMA_VERSION}; "
                           "read older files with read_result/upgrade")
    _check(result, SCHEMA_VERSION, where)
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


def write_result(result: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    result = to_json_safe(result)
    validate(result, str(path))
    atomic_write_text(path, dumps(result))
    return path


def read_result(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: results file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: not valid JSON: {exc}") from exc
    return upgrade(data, str(path))
