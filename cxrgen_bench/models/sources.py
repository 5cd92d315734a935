"""Where each model comes from (`sources.yaml`): typed, with the profile's known files filled in for the
backbones whose published address the profile pins. `weights fetch` reads these; nothing here downloads."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Mapping

from ..errors import InputError
from ..yamlfile import load_yaml

CATALOGUE = Path(__file__).with_name("sources.yaml")
Kind = Literal["file", "hub", "archive", "library", "manual"]


@dataclass(frozen=True)
class HubPiece:
    """Files of a Hub repository fetched into a model's folder."""

    repo: str
    files: tuple[str, ...]
    revision: str | None = None  # a tag or commit the publisher names; None: recorded at the first fetch


@dataclass(frozen=True)
class Source:
    model: str
    kind: Kind
    licence: str
    size: str
    page: str
    url: str | None = None  # kind file
    file: str | None = None  # kind file: the name it is saved as
    sha256: str | None = None  # kind file: stated by the publisher
    hub: HubPiece | None = None  # kinds hub and archive
    also: tuple[HubPiece, ...] = ()
    into: str | None = None  # kind archive: the sub-folder it unpacks into
    package: str | None = None  # kind library
    put: str = ""  # kind manual (and library): what a person does
    known: tuple[Any, ...] = field(default=(), compare=False)  # the profile's accepted files (backbones)

    @property
    def address(self) -> str:
        """What the lock records as where it came from."""
        if self.hub is not None:
            return f"hf://{self.hub.repo}"
        return self.url or self.page


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, dict[str, Any]]:
    return load_yaml(CATALOGUE, "the model sources catalogue") or {}


def names() -> list[str]:
    return sorted(_catalogue())


def source_for(model: str, profile: Any = None) -> Source:
    """The source of ``model``; a backbone with `from_profile` takes its address and hash from the profile's
    known files (the first with a url)."""
    raw = _catalogue().get(model)
    if raw is None:
        raise InputError(f"no source is known for model {model!r}; the catalogue ({CATALOGUE.name}) lists "
                         f"{', '.join(names())}. Give its file with --weights {model}=PATH")
    common = {"model": model, "kind": raw["kind"], "licence": raw.get("licence", ""), "size": raw.get("size", ""),
              "page": raw.get("page", ""), "put": raw.get("put", ""), "package": raw.get("package"),
              "into": raw.get("into")}
    if raw.get("repo"):
        common["hub"] = HubPiece(raw["repo"], tuple(raw.get("files") or ()), raw.get("revision"))
    common["also"] = tuple(HubPiece(a["repo"], tuple(a.get("files") or ()), a.get("revision"))
                           for a in raw.get("also") or ())
    if raw.get("from_profile"):
        return _from_profile(common, model, profile)
    return Source(url=raw.get("url"), file=raw.get("file"), sha256=raw.get("sha256"), **common)


def _from_profile(common: dict[str, Any], model: str, profile: Any) -> Source:
    from .weights import WeightsSpec

    if profile is None or model not in profile.backbones:
        raise InputError(f"model {model}'s address is in the profile's backbone block, and the profile has none "
                         "for it")
    spec = WeightsSpec.from_profile(model, profile.backbone(model))
    published = next((k for k in spec.known_files if k.url), None)
    if published is None:
        raise InputError(f"profile {profile.name}: backbone {model} names no published address (known_files url)")
    return Source(url=published.url, file=published.filename, sha256=published.sha256, known=spec.known_files,
                  **common)


def describe(source: Source) -> Mapping[str, Any]:
    """One row of docs/weights.md and `weights fetch --list`."""
    where = {"file": source.url, "hub": source.address, "archive": source.address, "library": source.package,
             "manual": source.page}[source.kind]
    return {"model": source.model, "kind": source.kind, "source": where, "licence": source.licence,
            "size": source.size}
