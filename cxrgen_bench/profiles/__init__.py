"""Versioned metric profiles: YAML files that pin preprocessing, weights hashes, label policies and
metric settings. `get_profile("roentgen2022")` or `get_profile("path/to/my.yaml")` (a file may start
from a built-in one with `extends: roentgen2022`). For one run, `with_overrides(["ms_ssim.resize=512"])`
(the `--set` flag) changes single settings: the profile keeps its name and version, records the
overrides and gets another sha256, so results of a changed profile are never taken for the original's.

Every `metrics:` block is parsed, when the profile loads, into the typed settings its metric (or study)
declares (`Metric.Settings`, `cxrgen_bench/settings.py`): an unknown or misspelt key, a value of the
wrong type or out of range is an error naming the file, the block, the key and the valid keys."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..registry import METRICS, PROFILES
from ..settings import Settings, SettingsError, did_you_mean, field_names, nested_class, parse_settings
from ..yamlfile import load_yaml

_HERE = Path(__file__).parent


@dataclass(frozen=True)
class Profile:
    name: str
    version: str
    description: str
    backbones: dict[str, dict[str, Any]]
    metrics: dict[str, dict[str, Any]]
    calibration: bool
    sha256: str  # of the YAML text: any edit changes it, so results can prove which profile they used
    generation: dict[str, Any] = field(default_factory=dict)
    # what still differs from the evaluation the profile is named after (recorded in results)
    differences: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()  # "metrics.ms_ssim.resize=512", as --set gave them (normalised)
    # how `--by` forms groups: min_size, age_bands, race_groups, matched_sizes (data/subgroups.py)
    subgroups: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the file it was read from (messages name it)
    # each `metrics:` block parsed into its metric's settings (filled by __post_init__: one check for every route)
    typed: dict[str, Settings] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "typed", {name: parse_settings(settings_class(name, self.where()), block,
                                                                f"{self.where()}: metrics.{name}")
                                           for name, block in self.metrics.items()})

    def where(self) -> str:
        return f"profile {self.name}" + (f" ({self.source})" if self.source else "")

    def settings_for(self, block: str) -> Settings:
        """The typed settings of a `metrics:` block: the profile's values, defaults for the rest (a block the
        profile does not have is all defaults)."""
        if block not in self.typed:
            return parse_settings(settings_class(block, self.where()), {}, f"{self.where()}: metrics.{block}")
        return self.typed[block]

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Profile":
        path = Path(path)
        data = load_yaml(path, "a profile")
        text = path.read_text(encoding="utf-8")
        if data and data.get("extends"):
            # A derived profile: the base's settings with these overrides; the hash covers both texts.
            base = get_profile(data.pop("extends"))
            data = _merge({"backbones": base.backbones, "metrics": base.metrics, "generation": base.generation,
                           "subgroups": base.subgroups,
                           "calibration": base.calibration, "description": base.description,
                           "differences": list(base.differences)}, data)
            text = base.sha256 + text
        missing = [k for k in ("name", "version", "backbones", "metrics") if k not in (data or {})]
        if missing:
            raise InputError(f"{path}: profile lacks {', '.join(missing)}")
        if not isinstance(data["metrics"], dict):
            raise InputError(f"{path}: `metrics:` maps metric names to their settings, not {data['metrics']!r}")
        return cls(name=data["name"], version=str(data["version"]), description=str(data.get("description", "")).strip(),
                   backbones=data["backbones"], metrics=data["metrics"], calibration=bool(data.get("calibration", False)),
                   sha256=hashlib.sha256(text.encode()).hexdigest(), generation=dict(data.get("generation") or {}),
                   subgroups=dict(data.get("subgroups") or {}), source=str(path),
                   differences=tuple(str(d) for d in data.get("differences") or ()))

    def backbone(self, name: str) -> dict[str, Any]:
        if name not in self.backbones:
            raise InputError(f"profile {self.name} does not configure backbone {name!r}; it has {', '.join(self.backbones)}")
        return self.backbones[name]

    def metric(self, name: str) -> dict[str, Any]:
        if name not in self.metrics:
            raise InputError(f"profile {self.name} does not configure metric {name!r}; it has {', '.join(self.metrics)}")
        return self.metrics[name]

    def describe(self) -> dict[str, Any]:
        out = {"name": self.name, "version": self.version, "sha256": self.sha256, "calibration": self.calibration}
        if self.differences:
            out["differences"] = list(self.differences)
        if self.overrides:
            out["overrides"] = list(self.overrides)
        return out

    @property
    def label(self) -> str:
        """How boards and messages name it: "roentgen2022 v2.0", with "+ overrides" when --set changed it."""
        return f"{self.name} v{self.version}" + (f" + {', '.join(self.overrides)}" if self.overrides else "")

    def settings(self) -> dict[str, Any]:
        """Every setting as KEY=VALUE lines would name it (`cxrgen-bench ls profiles NAME`)."""
        return dict(_flatten({"backbones": self.backbones, "metrics": self.metrics, "generation": self.generation,
                              "subgroups": self.subgroups}))

    def with_overrides(self, items: "list[str] | dict[str, Any]") -> "Profile":
        """This profile with single settings changed: ``["ms_ssim.samples_per_prompt=null", ...]`` (values
        read as YAML; null removes the setting) or a mapping of the same keys. A key may leave out
        ``metrics.``/``backbones.`` when its first part names a metric or backbone of the profile. Keys
        the metric does not declare (its ``Settings``) and values of the wrong type are refused."""
        pairs = list(items.items()) if isinstance(items, dict) else [_split_override(i) for i in items]
        if not pairs:
            return self
        data = {"backbones": _copy(self.backbones), "metrics": _copy(self.metrics), "generation": dict(self.generation),
                "subgroups": _copy(self.subgroups)}
        done = list(self.overrides)
        for key, value in pairs:
            path = self._override_path(key)
            block = data
            for part in path[:-1]:
                block = block.setdefault(part, {})
                if not isinstance(block, dict):
                    raise InputError(f"--set {key}: {'.'.join(path[:-1])} is not a block of settings")
            if value is None:
                block.pop(path[-1], None)
            else:
                block[path[-1]] = value
            done.append(f"{'.'.join(path)}={json.dumps(value)}")
        digest = hashlib.sha256((self.sha256 + json.dumps(done)).encode()).hexdigest()
        return replace(self, backbones=data["backbones"], metrics=data["metrics"], generation=data["generation"],
                       subgroups=data["subgroups"], sha256=digest, overrides=tuple(done))

    def _override_path(self, key: str) -> list[str]:
        from ..registry import METRICS

        parts = [p for p in key.split(".")]
        if any(not p for p in parts) or len(parts) < 2:
            raise InputError(f"--set {key}=...: expected METRIC.SETTING=VALUE (e.g. ms_ssim.resize=512), "
                             "BACKBONE.SETTING=VALUE or generation.SETTING=VALUE")
        if parts[0] == "generation":
            return parts
        if parts[0] == "subgroups":
            from ..functional.floors import FLOOR_SETTINGS

            known = {**self.subgroups, **FLOOR_SETTINGS}
            if parts[1] not in known:
                raise InputError(f"--set {key}: the subgroups block has no setting {parts[1]!r}; "
                                 f"it has {', '.join(known)}")
            return parts
        if parts[0] not in ("metrics", "backbones"):
            if parts[0] in self.metrics or parts[0] in METRICS:
                parts = ["metrics", *parts]
            elif parts[0] in self.backbones:
                parts = ["backbones", *parts]
            else:
                raise InputError(f"--set {key}: {parts[0]!r} is neither a metric nor a backbone of profile {self.name} "
                                 f"(metrics: {', '.join(self.metrics)}; backbones: {', '.join(self.backbones)})")
        if len(parts) < 3:
            raise InputError(f"--set {key}: name a setting of {parts[1]} (e.g. {parts[1]}.SETTING=VALUE)")
        kind, name, setting = parts[0], parts[1], parts[2]
        if kind == "metrics":
            cls = settings_class(name, self.where())
            for depth, part in enumerate(parts[2:]):
                known = field_names(cls)
                if part not in known:
                    block = ".".join([name, *parts[2:2 + depth]])
                    raise InputError(f"--set {key}: {block} has no setting {part!r}{did_you_mean(part, known)}; it "
                                     f"has: {', '.join(known) or 'none'} (`cxrgen-bench ls metrics {name}` lists them "
                                     "with their types and defaults)")
                cls = nested_class(cls, part)
                if cls is None:
                    break
            return parts
        known = set(self.backbones.get(name, {}))
        if setting not in known:
            raise InputError(f"--set {key}: {name} has no setting {setting!r} in profile {self.name}; it has: "
                             f"{', '.join(sorted(known)) or 'none'} (`cxrgen-bench ls profiles {self.name}` lists them)")
        return parts


def settings_class(block: str, where: str = "the profile") -> type[Settings]:
    """The settings a `metrics:` block holds: its metric's, or those of the study whose metrics read it."""
    if block in METRICS:
        return METRICS.get(block).Settings
    for name in METRICS.names():
        metric = METRICS.get(name)
        if metric.block_name() == block:
            return metric.Settings
    raise SettingsError(f"{where}: metrics.{block} is not a registered metric or a study's block"
                        f"{did_you_mean(block, METRICS.names())}; `cxrgen-bench ls metrics` lists them")


def _split_override(item: str) -> tuple[str, Any]:
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--set {item!r}: expected KEY=VALUE, e.g. ms_ssim.resize=512")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise InputError(f"--set {item!r}: the value is not readable ({exc.__class__.__name__})") from None
    return key.strip(), value


def _copy(blocks: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(blocks))


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        return [kv for k, v in value.items() for kv in _flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    return [(prefix, value)]


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def roentgen2022() -> Profile:
    return Profile.from_yaml(_HERE / "roentgen2022.yaml")


def roentgen2022_quick() -> Profile:
    return Profile.from_yaml(_HERE / "roentgen2022-quick.yaml")


def calibration_phantom() -> Profile:
    return Profile.from_yaml(_HERE / "calibration-phantom.yaml")


def chexgenbench2025() -> Profile:
    return Profile.from_yaml(_HERE / "chexgenbench2025.yaml")


def get_profile(name_or_path: str | Path | Profile) -> Profile:
    if isinstance(name_or_path, Profile):
        return name_or_path
    name_or_path = str(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")):
        return Profile.from_yaml(name_or_path)
    return PROFILES.get(name_or_path)()
