"""Image sets (a folder plus a manifest) and prompt sets (a CSV of prompts with labels).

An image set's layout is decided once, from the whole folder, and recorded in the results
(`subject.layout`); ``layout=`` (``score --layout``) forces one:

- ``manifest``: a CSV with columns ``prompt_id, sample_idx, path`` (path relative to the folder) and
  optionally ``sha256`` (each file is checked against it), ``prompt`` and CheXpert label columns. Read
  whenever the folder holds ``manifest.csv`` or a manifest is named. Its paths must stay inside the
  folder (no absolute paths, no ``..`` climbing out) unless ``allow_outside_paths`` (``score
  --allow-outside-paths``), which the results record with the number of such paths.
- ``roentgen``: files named ``{prompt_id}_{k}.{ext}``, k the sample index (the RoentGen evaluation's
  ``{id}_0.jpg`` … ``{id}_3.jpg``).
- ``one-per-file``: every file is one prompt (its path in the folder without suffix), sample 0.

The rule without a manifest: when any image is named ``{id}_0`` (some prompt's first sample) the
folder is read as ``roentgen`` and must be one — every image named ``{id}_{k}``, each prompt's
indices exactly 0..n−1, no (id, k) twice — else an error names the odd files, or the prompt ids and
their missing indices. One deleted sample is therefore an error, never a switch to another layout
(which would change what FID and MS-SSIM compare). When no image is named ``{id}_0`` the folder is
``one-per-file``: names such as ``person1_bacteria_4874`` are names, not samples. Limit: a folder of
one prompt that lost its sample 0 reads as one-per-file; scored with prompts, its ids (``p0_1``, …)
then match none and are named.

Files: symlinks are followed; a dangling or looping one is an error naming it, never skipped.
CSV files may begin with a byte-order mark (Excel's "CSV UTF-8") and column names are matched without
surrounding spaces. Ids are matched exactly, so an id with spaces around it (``' p1'``) is an error
naming the row: stripping it silently would score one id under another's name.

An image set's identity is its content: the sha256 over (prompt_id, sample_idx, file sha256) rows,
independent of folder location, file names and row order.
"""
from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

from ..errors import InputError
from .images import IMAGE_SUFFIXES, check_image_bytes, file_matches_sha256, sha256_file
from .labels import CHEXPERT_14, parse_label

MANIFEST_NAME = "manifest.csv"
MANIFEST_REQUIRED = ("prompt_id", "sample_idx", "path")
PROMPTS_REQUIRED = ("prompt_id", "text")
LAYOUTS = ("roentgen", "one-per-file", "manifest")
_ROENTGEN_NAME = re.compile(r"^(?P<pid>.+)_(?P<k>\d+)$")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
SHOWN = 10  # ids listed in a message; the count says how many there are


def listing(items: Iterable[object], shown: int = SHOWN) -> str:
    """The first `shown` items (repr, so stray spaces show), then how many more."""
    items = list(items)
    text = ", ".join(repr(i) if isinstance(i, str) else str(i) for i in items[:shown])
    return text + (f" and {len(items) - shown} more" if len(items) > shown else "")


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
    layout_forced: bool = False  # chosen by the caller (layout=), not by the rule in the module docstring
    outside_paths: int | None = None  # manifest paths outside the folder; None: they were not allowed
    full_content_sha256: str | None = None  # the whole folder's, when `restrict` kept only some prompts

    @classmethod
    def from_folder(cls, root: str | Path, manifest: str | Path | None = None, *, layout: str | None = None,
                    allow_outside_paths: bool = False) -> "ImageSet":
        """Read a folder of images; ``layout`` None or "auto" applies the rule in the module docstring."""
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"{root}: image folder not found")
        forced = layout not in (None, "auto")
        if forced and layout not in LAYOUTS:
            raise InputError(f"layout {layout!r} (--layout): choose auto, {', '.join(LAYOUTS)}")
        if manifest and layout in ("roentgen", "one-per-file"):
            raise InputError(f"layout {layout!r} reads file names, but a manifest ({manifest}) was named: "
                             "drop one of the two")
        manifest_path = Path(manifest) if manifest else root / MANIFEST_NAME
        check_link(manifest_path)
        prompts: dict[str, str] = {}
        digests: dict[Path, tuple[str, str]] = {}
        outside = None
        if layout == "manifest" or (not forced and (manifest or manifest_path.is_file())):
            rows, prompts, digests, outside = _read_manifest(manifest_path, root, allow_outside_paths)
            layout = "manifest"
        else:
            rows, layout = _scan_folder(root, layout if forced else None)
        if not rows:
            raise InputError(f"{root}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        records = []
        for pid, k, path in rows:
            digest = check_image_bytes(path.read_bytes(), path)
            if path in digests and not file_matches_sha256(path, digests[path][1], digest):
                raise InputError(f"{digests[path][0]}: {path} has sha256 {digest}, but the manifest says "
                                 f"{digests[path][1]}: the file changed after the manifest was written; restore "
                                 "it (re-running `generate` regenerates it) or correct the manifest")
            records.append(ImageRecord(pid, k, path, digest))
        records.sort(key=lambda r: (r.prompt_id, r.sample_idx))
        return cls(root=root, records=records, layout=layout, content_sha256=_content_hash(records), prompts=prompts,
                   layout_forced=forced, outside_paths=outside)

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

    def restrict(self, prompt_ids: Iterable[str]) -> "ImageSet":
        """The images of these prompts only (a subset the caller asked for); its content hash is that of
        what it holds, the whole folder's is kept in `full_content_sha256`."""
        keep = set(prompt_ids)
        records = [r for r in self.records if r.prompt_id in keep]
        if not records:
            raise InputError(f"{self.root}: none of its images belong to the prompts asked for")
        return replace(self, records=records, content_sha256=_content_hash(records),
                       prompts={p: t for p, t in self.prompts.items() if p in keep},
                       full_content_sha256=self.full_content_sha256 or self.content_sha256)

    def describe(self) -> dict:
        per_prompt = [len(g) for g in self.by_prompt().values()]
        out = {
            "path": str(self.root),
            "layout": self.layout,
            "content_sha256": self.content_sha256,
            "n_images": len(self.records),
            "n_prompts": len(per_prompt),
            "samples_per_prompt": {"min": min(per_prompt), "max": max(per_prompt)},
        }
        if self.layout_forced:
            out["layout_forced"] = True
        if self.outside_paths is not None:
            out["outside_paths"] = self.outside_paths
        if self.full_content_sha256:
            out["full_content_sha256"] = self.full_content_sha256
        return out


def content_sha256(rows: Iterable[tuple[str, int, str]]) -> str:
    """An image set's identity from its (prompt id, sample index, file sha256) rows, in any order."""
    h = hashlib.sha256()
    for pid, k, digest in sorted(rows):
        h.update(json.dumps([pid, k, digest]).encode())
    return h.hexdigest()


def _content_hash(records: Iterable[ImageRecord]) -> str:
    return content_sha256((r.prompt_id, r.sample_idx, r.sha256) for r in records)


def check_link(path: Path) -> None:
    """A symlink that leads nowhere is named, not skipped: a skipped sample silently changes what is scored."""
    if not path.is_symlink() or path.exists():
        return
    try:
        os.stat(path)
        why = "leads nowhere"
    except OSError as exc:
        why = "loops (it leads back to itself)" if exc.errno == errno.ELOOP else \
            f"leads nowhere (its target {os.readlink(path)} does not exist)"
    raise InputError(f"{path}: symbolic link that {why}; fix or remove it")


def _header(path: Path, reader: "csv.DictReader[str]", required: tuple[str, ...]) -> list[str]:
    """Column names without surrounding spaces (`prompt_id, text` is a common hand-written header)."""
    header = [(h or "").strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(header) or 'none'}. "
                         f"Required: {', '.join(required)}")
    return header


def read_id(row: dict, column: str, where: str) -> str:
    """An id cell, exactly: empty, or with spaces around it, is an error naming the row."""
    raw = row.get(column) or ""
    pid = raw.strip()
    if not pid:
        raise InputError(f"{where}: empty {column}")
    if pid != raw:
        raise InputError(f"{where}: {column} {raw!r} has spaces around it; ids are matched exactly, so remove "
                         "them (or the id will not match the same id elsewhere)")
    return pid


def _inside(root: Path, rel: str) -> bool:
    # Lexical, not through symlinks: a folder of links into a dataset is the user's own construction,
    # a manifest path climbing out with ../ is a typo or a mix-up of sets.
    if Path(rel).is_absolute():
        return False
    base = os.path.normpath(os.path.abspath(root))
    return os.path.commonpath([base, os.path.normpath(os.path.join(base, rel))]) == base


def _read_manifest(path: Path, root: Path, allow_outside: bool = False
                   ) -> tuple[list[tuple[str, int, Path]], dict[str, str], dict[Path, tuple[str, str]], int | None]:
    """Rows (prompt id, sample, file), prompt texts, expected sha256 by file (with the row naming it) and how
    many paths lie outside the folder (None when not allowed: then there are none)."""
    if not path.is_file():
        raise InputError(f"{path}: manifest not found")
    rows: list[tuple[str, int, Path]] = []
    prompts: dict[str, str] = {}
    digests: dict[Path, tuple[str, str]] = {}
    seen: dict[tuple[str, int], int] = {}
    outside = 0
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = _header(path, reader, MANIFEST_REQUIRED)
            for line, row in enumerate(reader, start=2):
                where = f"{path}, row {line}"
                pid = read_id(row, "prompt_id", where)
                try:
                    k = int(row["sample_idx"])
                except (TypeError, ValueError):
                    raise InputError(f"{where}: sample_idx {row['sample_idx']!r} is not an integer") from None
                if (pid, k) in seen:
                    raise InputError(f"{where}: duplicate (prompt_id={pid}, sample_idx={k}), first at row "
                                     f"{seen[(pid, k)]}")
                seen[(pid, k)] = line
                rel = (row["path"] or "").strip()
                if rel and not _inside(root, rel):
                    if not allow_outside:
                        raise InputError(f"{where}: path {rel!r} lies outside the image folder {root}; list only "
                                         "the folder's own images (or pass --allow-outside-paths, "
                                         "allow_outside_paths=True, if this is meant; the results record it)")
                    outside += 1
                file = root / rel
                if rel:
                    check_link(file)
                if not rel or not file.is_file():
                    raise InputError(f"{where}: image {file} not found")
                expected = (row.get("sha256") or "").strip() if "sha256" in header else ""
                if expected:
                    if not _SHA256.match(expected):
                        raise InputError(f"{where}: sha256 {expected!r} is not a sha256 (64 hexadecimal digits)")
                    digests[file] = (where, expected)
                rows.append((pid, k, file))
                if row.get("prompt"):
                    prompts[pid] = row["prompt"]
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc}); re-save the CSV as UTF-8") from None
    return rows, prompts, digests, outside if allow_outside else None


def _image_files(root: Path) -> list[Path]:
    files = []
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() in IMAGE_SUFFIXES:
            check_link(p)
            if p.is_file():
                files.append(p)
    return files


def _scan_folder(root: Path, layout: str | None = None) -> tuple[list[tuple[str, int, Path]], str]:
    """Rows of a folder without a manifest, in ``layout`` or by the rule in the module docstring."""
    files = _image_files(root)
    parsed = {p: _ROENTGEN_NAME.match(p.stem) for p in files}
    firsts = [p for p, m in parsed.items() if m and int(m["k"]) == 0]
    forced = layout is not None
    if not forced:
        layout = "roentgen" if firsts else "one-per-file"
    if layout == "roentgen":
        why = "(--layout roentgen)" if forced else f"(some files are named {{prompt_id}}_0, e.g. {firsts[0].name})"
        odd = [p.relative_to(root).as_posix() for p, m in parsed.items() if not m]
        if odd:
            raise InputError(f"{root}: read as {{prompt_id}}_{{k}} sample files {why}, but {len(odd)} file(s) are not "
                             f"named so: {listing(odd)}. Rename or remove them, write a manifest.csv, or pass "
                             "--layout one-per-file (--reference-layout for --reference; layout= in Python) if "
                             "every file is one prompt")
        groups: dict[str, dict[int, Path]] = defaultdict(dict)
        for p, m in parsed.items():
            pid, k = m["pid"], int(m["k"])
            if k in groups[pid]:
                raise InputError(f"{root}: {groups[pid][k].relative_to(root)} and {p.relative_to(root)} are both "
                                 f"prompt {pid!r} sample {k}; remove one or write a manifest.csv")
            groups[pid][k] = p
        gaps = {pid: sorted(set(range(max(ks) + 1)) - set(ks)) for pid, ks in sorted(groups.items())}
        gaps = {pid: missing for pid, missing in gaps.items() if missing}
        if gaps:
            shown = "; ".join(f"{pid!r} lacks {missing}" for pid, missing in list(gaps.items())[:SHOWN])
            raise InputError(
                f"{root}: read as {{prompt_id}}_{{k}} sample files {why}, where each prompt's samples are numbered "
                f"0..n-1, but {len(gaps)} prompt(s) lack sample indices: {shown}"
                f"{' …' if len(gaps) > SHOWN else ''}. Restore the missing files (re-running `generate` makes only "
                "those), list the samples you have in a manifest.csv, or pass --layout one-per-file (--reference-layout "
                "for --reference; layout= in Python) if the numbers are part of the names")
        return [(pid, k, p) for pid, ks in groups.items() for k, p in ks.items()], "roentgen"
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
    # every other column (sex, age, race, view, ...), as written: what subgroups are read from
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class PromptSet:
    path: Path
    prompts: dict[str, Prompt]
    label_names: tuple[str, ...]
    sha256: str
    # the CSV of the reference images' prompts merged in (`with_reference`), as its describe() gave it
    reference: dict | None = None
    attribute_names: tuple[str, ...] = ()  # the other columns (sex, age, race, view, ...), in CSV order

    @classmethod
    def from_csv(cls, path: str | Path) -> "PromptSet":
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: prompts file not found")
        prompts: dict[str, Prompt] = {}
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: Excel's "CSV UTF-8" starts with a BOM
                reader = csv.DictReader(f)
                header = _header(path, reader, PROMPTS_REQUIRED)
                label_names = tuple(c for c in CHEXPERT_14 if c in header)
                for line, row in enumerate(reader, start=2):
                    where = f"{path}, row {line}"
                    pid = read_id(row, "prompt_id", where)
                    if pid in prompts:
                        raise InputError(f"{where}: duplicate prompt_id {pid!r}")
                    text = (row["text"] or "").strip()
                    if not text:
                        raise InputError(f"{where}: empty prompt text for prompt_id {pid!r}")
                    labels = {name: parse_label(row.get(name), f"{where}, column {name!r}") for name in label_names}
                    attributes = {c: (row.get(c) or "").strip() for c in header
                                  if c not in label_names and c not in ("prompt_id", "text", "image_path")}
                    prompts[pid] = Prompt(pid, text, labels, (row.get("image_path") or "").strip() or None, attributes)
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text ({exc}); re-save the CSV as UTF-8") from exc
        if not prompts:
            raise InputError(f"{path}: no prompts")
        columns = tuple(c for c in header if c not in label_names and c not in ("prompt_id", "text", "image_path"))
        return cls(path=path, prompts=prompts, label_names=label_names, sha256=sha256_file(path),
                   attribute_names=columns)

    def describe(self) -> dict:
        out = {"path": str(self.path), "sha256": self.sha256, "n_prompts": len(self.prompts),
               "label_columns": list(self.label_names)}
        return {**out, "reference_prompts": self.reference} if self.reference else out

    def with_reference(self, other: "PromptSet") -> "PromptSet":
        """These prompts and those of ``other`` (the reference images' own, e.g. retrieval candidates that
        have no generated image): one id with two different texts or label sets is an error naming it."""
        if set(other.label_names) != set(self.label_names):
            raise InputError(f"{other.path} and {self.path} have different label columns "
                             f"({', '.join(other.label_names) or 'none'} vs {', '.join(self.label_names) or 'none'}); "
                             "give both the same CheXpert columns")
        merged = dict(self.prompts)
        for pid, prompt in other.prompts.items():
            mine = merged.get(pid)
            if mine is not None and (mine.text != prompt.text or mine.labels != prompt.labels):
                raise InputError(f"prompt id {pid!r} is in {self.path} and in {other.path} with a different text "
                                 "or labels; an id names one prompt")
            merged.setdefault(pid, prompt)
        digest = hashlib.sha256((self.sha256 + other.sha256).encode()).hexdigest()
        names = self.attribute_names + tuple(c for c in other.attribute_names if c not in self.attribute_names)
        return PromptSet(self.path, merged, self.label_names, digest, reference=other.describe(), attribute_names=names)

    def subset(self, n: int) -> "PromptSet":
        """A fixed subset of n prompts: those with the smallest sha256(prompt_id), so the choice does not
        depend on file order and every checkpoint is checked on the same prompts."""
        if n >= len(self.prompts):
            return self
        chosen = sorted(self.prompts, key=lambda pid: hashlib.sha256(pid.encode()).hexdigest())[:n]
        digest = hashlib.sha256((self.sha256 + json.dumps(sorted(chosen))).encode()).hexdigest()
        return PromptSet(self.path, {pid: self.prompts[pid] for pid in chosen}, self.label_names, digest,
                         self.reference, self.attribute_names)

    def restrict(self, prompt_ids: Iterable[str]) -> "PromptSet":
        """The prompts among ``prompt_ids`` (a subset the caller asked for), with a sha256 of the choice."""
        chosen = sorted(set(prompt_ids) & set(self.prompts))
        digest = hashlib.sha256((self.sha256 + json.dumps(chosen)).encode()).hexdigest()
        return PromptSet(self.path, {pid: self.prompts[pid] for pid in chosen}, self.label_names, digest,
                         self.reference, self.attribute_names)
