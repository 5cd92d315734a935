"""Versioned metric profiles: YAML files that pin preprocessing, weights hashes, label policies and
metric settings. `get_profile("roentgen2022")` or `get_profile("path/to/my.yaml")`."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..registry import PROFILES

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

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Profile":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            data = yaml.safe_load(text)
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(f"{path}: cannot read profile: {exc}") from exc
        if data and data.get("extends"):
            # A derived profile: the base's settings with these overrides; the hash covers both texts.
            base = get_profile(data.pop("extends"))
            data = _merge({"backbones": base.backbones, "metrics": base.metrics, "generation": base.generation,
                           "calibration": base.calibration, "description": base.description,
                           "differences": list(base.differences)}, data)
            text = base.sha256 + text
        missing = [k for k in ("name", "version", "backbones", "metrics") if k not in (data or {})]
        if missing:
            raise InputError(f"{path}: profile lacks {', '.join(missing)}")
        return cls(name=data["name"], version=str(data["version"]), description=str(data.get("description", "")).strip(),
                   backbones=data["backbones"], metrics=data["metrics"], calibration=bool(data.get("calibration", False)),
                   sha256=hashlib.sha256(text.encode()).hexdigest(), generation=dict(data.get("generation") or {}),
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
        return {**out, "differences": list(self.differences)} if self.differences else out


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
