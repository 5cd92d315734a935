"""Typed settings: what a metric or a study reads from its profile block, declared once.

Each metric declares a frozen dataclass of its settings (`Metric.Settings`), every field made with
`setting(default, "what it does", ...)`: a type, a default, allowed values or a range, one line of
description. The profile loader parses every `metrics:` block through it (`parse_settings`), so a
misspelt key, a wrong type or an out-of-range value is refused when the profile loads, naming the file,
the block, the key and the keys there are — never silently replaced by a default. `--set`,
`cxrgen-bench ls metrics NAME` and the docs' settings tables read the same declaration.

Light on purpose (no numpy, no torch): profiles and listings read it.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Union

from .errors import InputError


class SettingsError(InputError):
    """A profile block (or --set) that does not match the settings its metric or study declares."""


def setting(default: Any, doc: str, *, choices: tuple[Any, ...] = (), minimum: float | None = None,
            maximum: float | None = None, positive: bool = False) -> Any:
    """A settings field: ``default`` (a list or dict default is copied per instance), a one-line ``doc``,
    and optionally the values it may take, the range of a number (inclusive) or that it is above 0."""
    meta = {"doc": doc, "choices": tuple(choices), "minimum": minimum, "maximum": maximum, "positive": positive}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The base of every settings declaration: no setting at all (a block for it must be empty)."""

    # a nested block written as its own settings class keeps its own name in messages ("bertscore.model")
    block_name: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data (tuples as lists, nested settings as mappings), as a profile would write it."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def get(self, name: str, default: Any = None) -> Any:
        """A setting by name (for code that is handed a block name at run time)."""
        return getattr(self, name, default)

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """One row per setting (nested blocks flattened as block.key): name, type, default, allowed, doc."""
        hints = typing.get_type_hints(cls)
        rows = []
        for f in dataclasses.fields(cls):
            nested = _settings_class(hints[f.name])
            if nested is not None:
                rows += [{**row, "name": f"{f.name}.{row['name']}"} for row in nested.describe()]
                continue
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            rows.append({"name": f.name, "type": type_name(hints[f.name]), "default": _plain(default),
                         "allowed": allowed_text(hints[f.name], f.metadata), "doc": f.metadata.get("doc", "")})
        return rows


def parse_settings(cls: type[Settings], block: Any, where: str) -> Settings:
    """``block`` (a profile's mapping) as an instance of ``cls``; every key checked, every value typed.
    ``where`` names the block in messages ("profile roentgen2022 (…/roentgen2022.yaml): metrics.ms_ssim")."""
    if isinstance(block, cls):
        return block
    if block is None:
        block = {}
    if not isinstance(block, Mapping):
        raise SettingsError(f"{where}: expected a block of settings (KEY: VALUE lines), not {_shown(block)}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in block:
        if key not in known:
            raise SettingsError(f"{where}: unknown setting {key!r}{did_you_mean(str(key), known)}; "
                                f"valid: {', '.join(known) or 'none (this block takes no settings)'}")
    hints = typing.get_type_hints(cls)
    values = {key: coerce(value, hints[key], f"{where}.{key}", known[key].metadata) for key, value in block.items()}
    return cls(**values)


def did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def field_names(cls: type[Settings]) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def nested_class(cls: type[Settings], name: str) -> type[Settings] | None:
    """The settings class of a nested block (``bertscore`` of rrg), None for a plain setting."""
    return _settings_class(typing.get_type_hints(cls)[name])


# --- types ----------------------------------------------------------------------------------------

def coerce(value: Any, tp: Any, where: str, meta: Mapping[str, Any] | None = None) -> Any:
    """``value`` as type ``tp`` (bool, int, float, str, Literal, tuple[T, ...], dict[K, V], a Settings
    class, Any, or a union of these), checked against ``meta``'s choices and range."""
    meta = meta or {}
    out = _coerce(value, tp, where)
    if out is not None and meta.get("choices") and out not in meta["choices"]:
        raise SettingsError(f"{where}: {out!r} is not one of {', '.join(map(repr, meta['choices']))}"
                            f"{did_you_mean(str(out), meta['choices'])}")
    if isinstance(out, (int, float)) and not isinstance(out, bool):
        low, high = meta.get("minimum"), meta.get("maximum")
        if (low is not None and out < low) or (high is not None and out > high):
            raise SettingsError(f"{where}: must be {_range_text(low, high)}, not {out!r}")
        if meta.get("positive") and not out > 0:
            raise SettingsError(f"{where}: must be > 0, not {out!r}")
    return out


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        problems = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, where)
            except SettingsError as exc:
                problems.append(exc)
        # an option of the value's own shape that failed inside (a block with a bad key) says what is wrong
        deeper = [p for p in problems if str(p).startswith((f"{where}.", f"{where}["))]
        if deeper:
            raise deeper[0]
        raise SettingsError(f"{where}: expected {type_name(tp)}, not {_shown(value)}") from problems[0]
    if origin is Literal:
        if value in args and not (isinstance(value, bool) and not any(isinstance(a, bool) for a in args)):
            return value
        raise SettingsError(f"{where}: {_shown(value)} is not one of {', '.join(map(repr, args))}"
                            f"{did_you_mean(str(value), args)}")
    settings_class = _settings_class(tp)
    if settings_class is not None:
        return parse_settings(settings_class, value, where)
    if origin is tuple:
        return _tuple(value, args, tp, where)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise SettingsError(f"{where}: expected a mapping ({type_name(tp)}), not {_shown(value)}")
        key_type, value_type = args or (Any, Any)
        return {_coerce(k, key_type, f"{where}.{k}"): _coerce(v, value_type, f"{where}.{k}") for k, v in value.items()}
    return _scalar(value, tp, where)


def _tuple(value: Any, args: tuple[Any, ...], tp: Any, where: str) -> tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise SettingsError(f"{where}: expected a list ({type_name(tp)}), not {_shown(value)}")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if len(value) != len(args):
        raise SettingsError(f"{where}: expected a list of {len(args)} values ({type_name(tp)}), not {len(value)}")
    return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))


def _scalar(value: Any, tp: Any, where: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"{where}: settings of type {tp!r} are not supported")  # a declaration bug, not user input
    raise SettingsError(f"{where}: expected {type_name(tp)}, not {_shown(value)}")


def _settings_class(tp: Any) -> type[Settings] | None:
    return tp if isinstance(tp, type) and issubclass(tp, Settings) else None


def type_name(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        names = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" or null" if type(None) in args else "")
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin is tuple:
        return f"list of {type_name(args[0])}" if len(args) == 2 and args[1] is Ellipsis else \
            f"list of {len(args)} ({', '.join(type_name(a) for a in args)})"
    if origin in (dict, Mapping):
        return f"mapping {type_name(args[0])} → {type_name(args[1])}" if args else "mapping"
    if tp is Any:
        return "any"
    if _settings_class(tp) is not None:
        return "block"
    return {bool: "boolean", int: "integer", float: "number", str: "text"}.get(tp, getattr(tp, "__name__", str(tp)))


def allowed_text(tp: Any, meta: Mapping[str, Any]) -> str:
    """The values a setting may take beyond what its type says (choices, a range)."""
    if meta.get("choices"):
        return ", ".join(map(str, meta["choices"]))
    if meta.get("positive"):
        return "> 0"
    if meta.get("minimum") is not None or meta.get("maximum") is not None:
        return _range_text(meta.get("minimum"), meta.get("maximum"))
    return ""


def _range_text(low: float | None, high: float | None) -> str:
    if high is None:
        return f"≥ {low:g}"
    if low is None:
        return f"≤ {high:g}"
    return f"{low:g} to {high:g}"


def _shown(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "text", list: "a list",
            dict: "a mapping", type(None): "null"}.get(type(value), type(value).__name__)
    return f"{kind} ({value!r})" if not isinstance(value, (list, dict)) else kind


def _plain(value: Any) -> Any:
    if isinstance(value, Settings):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
