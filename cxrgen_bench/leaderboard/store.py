"""The leaderboard store: one validated results file per entry under leaderboard/entries/."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import ResultsError
from ..results.store import read_result, to_json_safe, upgrade, write_result


def slug(text: str) -> str:
    """Lower-case letters, digits and single hyphens, at most 80: safe as a file name in entries/
    (no separators, no "..", no leading dot) and as an HTML id, whatever the results file says."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower())[:80].strip("-") or "entry"


def entry_name(result: dict[str, Any]) -> str:
    if result.get("name"):
        return slug(result["name"])  # the name comes from a file anyone may have written
    prefix = "reported-" if result["kind"] == "reported" else ""
    return slug(f"{prefix}{result['profile']['name']}-{result['model']['name']}")


class Store:
    def __init__(self, root: str | Path = "leaderboard"):
        self.root = Path(root)
        self.entries_dir = self.root / "entries"

    def load(self) -> list[dict[str, Any]]:
        """Every entry, validated, sorted by name; duplicate names are an error."""
        entries, seen = [], {}
        for path in sorted(self.entries_dir.glob("*.json")):
            result = read_result(path)
            name = entry_name(result)
            if name in seen:
                raise ResultsError(f"{path}: entry name {name!r} is also used by {seen[name]}; rename one "
                                   "(the \"name\" field)")
            seen[name] = path
            entries.append({**result, "name": name})
        return sorted(entries, key=lambda e: e["name"])

    def load_meta(self) -> dict[str, dict[str, Any]]:
        """Stored meta-evaluation reports, meta/NAME/meta.json (`cxrgen-bench meta --out
        leaderboard/meta/NAME`), by name: the board prints which metric to trust beside its numbers."""
        import json

        reports = {}
        for path in sorted((self.root / "meta").glob("*/meta.json")):
            try:
                reports[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ResultsError(f"{path}: cannot read the meta-evaluation report: {exc}") from exc
        return reports

    def add(self, result: dict[str, Any] | str | Path, name: str | None = None, replace: bool = False) -> Path:
        data = read_result(result) if not isinstance(result, dict) else upgrade(to_json_safe(result))
        data = {**data, "name": slug(name) if name else entry_name(data)}
        path = self.entries_dir / f"{data['name']}.json"
        existing = {e["name"]: e for e in self.load()} if self.entries_dir.is_dir() else {}
        if data["name"] in existing and not replace:
            raise ResultsError(f"an entry named {data['name']!r} already exists ({path}); pass --name to choose "
                               "another name or --replace to overwrite it")
        return write_result(data, path)
