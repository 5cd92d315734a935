"""Reading YAML that people write by hand (profiles, gate rules, numbers typed in from papers): a
repeated key is an error naming both lines (PyYAML keeps the last one silently, so a second row of one
name would replace the first), and a syntax error names the file, line and column, never a traceback."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import InputError


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader whose mappings refuse a key they already hold."""


def _mapping(loader: UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    # only keys written in this mapping count: a key a merge (<<: *anchor) brings in may be overridden
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"{key!r} appears twice (lines {seen[key]} and {line}): one of them would be lost",
                key_node.start_mark)
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(path: str | Path, what: str, all_documents: bool = False) -> Any:
    """The YAML of ``path`` (every document with ``all_documents``); ``what`` names it in errors."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give {what} (a YAML file)")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc}); re-save it as UTF-8") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    try:
        if all_documents:
            return [d for d in yaml.load_all(text, Loader=UniqueKeyLoader) if d is not None]
        return yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        at = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{path}{at}: {what} is not valid YAML ({problem})") from None
