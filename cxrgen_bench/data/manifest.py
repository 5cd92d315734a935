"""Image sets (a folder plus a manifest) and prompt sets (a CSV of prompts with labels).

A manifest is a CSV with columns ``prompt_id, sample_idx, path`` (path relative to the folder) and
optionally ``prompt`` and CheXpert label columns. Without one, the folder is scanned: files named
``{prompt_id}_{k}.{ext}`` with k = 0, 1, ... for every prompt are read as the RoentGen evaluation
layout (k = sample index); otherwise each file is one prompt (its stem) with sample index 0.

An image set's identity is its content: the sha256 over (prompt_id, sample_idx, file sha256) rows,
independent of folder location, file names and row order.
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..errors import InputError
from .images import IMAGE_SUFFIXES, check_image_bytes, sha256_file
from .labels import CHEXPERT_14, parse_label

MANIFEST_NAME = "manifest.csv"
MANIFEST_REQUIRED = ("prompt_id", "sample_idx", "path")
PROMPTS_REQUIRED = ("prompt_id", "text")
_ROENTGEN_NAME = re.compile(r"^(?P<pid>.+)_(?P<k>\d+)$")


@dataclass(frozen=True)
class ImageRecord:
    prompt_id: str
    sample_idx: int
    path: Path
    sha256: str


@dataclass
class ImageSet:
    root: Path
    records: list[ImageRecord]
    layout: str  # "manifest", "roentgen" ({id}_{k}), or "one-per-file"
    content_sha256: str = ""
    prompts: dict[str, str] = field(default_factory=dict)  # prompt texts found in the manifest

    @classmethod
    def from_folder(cls, root: str | Path, manifest: str | Path | None = None) -> "ImageSet":
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"{root}: image folder not found")
        manifest_path = Path(manifest) if manifest else root / MANIFEST_NAME
        if manifest or manifest_path.is_file():
            rows, prompts = _read_manifest(manifest_path, root)
            layout = "manifest"
        else:
            rows, layout = _scan_folder(root)
            prompts = {}
        if not rows:
            raise InputError(f"{root}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        records = [ImageRecord(pid, k, path, check_image_bytes(path.read_bytes(), path)) for pid, k, path in rows]
        records.sort(key=lambda r: (r.prompt_id, r.sample_idx))
        return cls(root=root, records=records, layout=layout, content_sha256=_content_hash(records), prompts=prompts)

    @property
    def prompt_ids(self) -> list[str]:
        return sorted({r.prompt_id for r in self.records})

    def by_prompt(self) -> dict[str, list[ImageRecord]]:
        groups: dict[str, list[ImageRecord]] = defaultdict(list)
        for r in self.records:
            groups[r.prompt_id].append(r)
        return dict(groups)

    def first_samples(self) -> list[ImageRecord]:
        """One image per prompt, the lowest sample index (the paper's `{id}_0.jpg`)."""
        return [group[0] for _, group in sorted(self.by_prompt().items())]

    def describe(self) -> dict:
        per_prompt = [len(g) for g in self.by_prompt().values()]
        return {
            "path": str(self.root),
            "layout": self.layout,
            "content_sha256": self.content_sha256,
            "n_images": len(self.records),
            "n_prompts": len(per_prompt),
            "samples_per_prompt": {"min": min(per_prompt), "max": max(per_prompt)},
        }


def content_sha256(rows: Iterable[tuple[str, int, str]]) -> str:
    """An image set's identity from its (prompt id, sample index, file sha256) rows, in any order."""
    h = hashlib.sha256()
    for pid, k, digest in sorted(rows):
        h.update(json.dumps([pid, k, digest]).encode())
    return h.hexdigest()


def _content_hash(records: Iterable[ImageRecord]) -> str:
    return content_sha256((r.prompt_id, r.sample_idx, r.sha256) for r in records)


def _check_columns(path: Path, header: list[str] | None, required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in (header or [])]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(header or []) or 'none'}. "
                         f"Required: {', '.join(required)}")


def _read_manifest(path: Path, root: Path) -> tuple[list[tuple[str, int, Path]], dict[str, str]]:
    if not path.is_file():
        raise InputError(f"{path}: manifest not found")
    rows: list[tuple[str, int, Path]] = []
    prompts: dict[str, str] = {}
    seen: dict[tuple[str, int], int] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        _check_columns(path, reader.fieldnames, MANIFEST_REQUIRED)
        for line, row in enumerate(reader, start=2):
            where = f"{path}, row {line}"
            pid = (row["prompt_id"] or "").strip()
            if not pid:
                raise InputError(f"{where}: empty prompt_id")
            try:
                k = int(row["sample_idx"])
            except (TypeError, ValueError):
                raise InputError(f"{where}: sample_idx {row['sample_idx']!r} is not an integer") from None
            if (pid, k) in seen:
                raise InputError(f"{where}: duplicate (prompt_id={pid}, sample_idx={k}), first at row {seen[(pid, k)]}")
            seen[(pid, k)] = line
            file = (root / (row["path"] or "").strip())
            if not row["path"] or not file.is_file():
                raise InputError(f"{where}: image {file} not found")
            rows.append((pid, k, file))
            if row.get("prompt"):
                prompts[pid] = row["prompt"]
    return rows, prompts


def _scan_folder(root: Path) -> tuple[list[tuple[str, int, Path]], str]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    parsed = [_ROENTGEN_NAME.match(p.stem) for p in files]
    if files and all(parsed):
        groups: dict[str, list[int]] = defaultdict(list)
        for m in parsed:
            groups[m["pid"]].append(int(m["k"]))
        # Only call it the RoentGen layout when every prompt's samples are exactly 0..k−1;
        # otherwise names such as "patient_4874" would be misread as sample 4874.
        if all(sorted(ks) == list(range(len(ks))) for ks in groups.values()):
            rows = [(m["pid"], int(m["k"]), p) for m, p in zip(parsed, files)]
            return rows, "roentgen"
    stems: dict[str, Path] = {}
    for p in files:
        key = str(p.relative_to(root).with_suffix(""))
        if key in stems:
            raise InputError(f"{root}: {stems[key].name} and {p.name} would both be prompt {key!r}; "
                             "rename one or write a manifest.csv")
        stems[key] = p
    return [(key, 0, p) for key, p in stems.items()], "one-per-file"


@dataclass
class Prompt:
    prompt_id: str
    text: str
    labels: dict[str, float | None]  # CheXpert name → 1, 0, −1 or None (blank)
    image_path: str | None = None  # relative to the dataset root, where the dataset has images


@dataclass
class PromptSet:
    path: Path
    prompts: dict[str, Prompt]
    label_names: tuple[str, ...]
    sha256: str

    @classmethod
    def from_csv(cls, path: str | Path) -> "PromptSet":
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: prompts file not found")
        prompts: dict[str, Prompt] = {}
        try:
            with open(path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                _check_columns(path, reader.fieldnames, PROMPTS_REQUIRED)
                label_names = tuple(c for c in CHEXPERT_14 if c in (reader.fieldnames or []))
                for line, row in enumerate(reader, start=2):
                    where = f"{path}, row {line}"
                    pid = (row["prompt_id"] or "").strip()
                    if not pid:
                        raise InputError(f"{where}: empty prompt_id")
                    if pid in prompts:
                        raise InputError(f"{where}: duplicate prompt_id {pid!r}")
                    text = (row["text"] or "").strip()
                    if not text:
                        raise InputError(f"{where}: empty prompt text for prompt_id {pid!r}")
                    labels = {name: parse_label(row.get(name), f"{where}, column {name!r}") for name in label_names}
                    prompts[pid] = Prompt(pid, text, labels, (row.get("image_path") or "").strip() or None)
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text ({exc}); re-save the CSV as UTF-8") from exc
        if not prompts:
            raise InputError(f"{path}: no prompts")
        return cls(path=path, prompts=prompts, label_names=label_names, sha256=sha256_file(path))

    def describe(self) -> dict:
        return {"path": str(self.path), "sha256": self.sha256, "n_prompts": len(self.prompts),
                "label_columns": list(self.label_names)}

    def subset(self, n: int) -> "PromptSet":
        """A fixed subset of n prompts: those with the smallest sha256(prompt_id), so the choice does not
        depend on file order and every checkpoint is checked on the same prompts."""
        if n >= len(self.prompts):
            return self
        chosen = sorted(self.prompts, key=lambda pid: hashlib.sha256(pid.encode()).hexdigest())[:n]
        digest = hashlib.sha256((self.sha256 + json.dumps(sorted(chosen))).encode()).hexdigest()
        return PromptSet(self.path, {pid: self.prompts[pid] for pid in chosen}, self.label_names, digest)
