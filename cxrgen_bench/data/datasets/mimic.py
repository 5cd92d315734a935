"""MIMIC-CXR-JPG (credentialed; users bring it), read as PhysioNet distributes it:

    ROOT/mimic-cxr-2.0.0-split.csv[.gz]      dicom_id, study_id, subject_id, split
    ROOT/mimic-cxr-2.0.0-metadata.csv[.gz]   dicom_id, subject_id, study_id, ViewPosition, ...
    ROOT/mimic-cxr-2.0.0-chexpert.csv[.gz]   subject_id, study_id, the 14 CheXpert labels
    ROOT/files/pXX/pSUBJECT/sSTUDY/DICOM.jpg  images
    REPORTS/files/pXX/pSUBJECT/sSTUDY.txt     reports (REPORTS defaults to ROOT, or ROOT/mimic-cxr-reports)

One prompt per image (prompt_id = dicom_id) with the report's impression, as RoentGen trained and
evaluated. The paper's filters (seeds/000 §3): impression section only; drop impressions under 7
characters and over 77 CLIP tokens (start/end tokens included); cap "No Finding"; PA only or all
views. Splits: ``train`` = subject groups p10–p18 without the official test studies; ``p19`` =
group p19 (the holdout, 5,000 PA prompts in the paper: ``--limit 5000``); ``test``/``validate`` =
the official split; ``pNN`` or ``pNN-pMM`` = subject groups.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from ...errors import InputError
from ..labels import CHEXPERT_14, parse_label
from ..sections import SECTION_CHOICES
from ..tokens import CLIP_CONTEXT
from ..subgroups import demographic_prompt
from .base import Dataset, PromptTable, Skips, cap_and_sample, open_table, text_filter

PREFIX = "mimic-cxr-2.0.0-"
OFFICIAL_SPLITS = ("train", "validate", "test")
_GROUPS = re.compile(r"^p(\d\d)(?:-p(\d\d))?$")


def open_csv(root: Path, stem: str) -> tuple[Path, Iterator[dict[str, str]], list[str]]:
    for name in (f"{PREFIX}{stem}.csv", f"{PREFIX}{stem}.csv.gz"):
        path = root / name
        if path.is_file():
            header, reader = open_table(path)
            return path, reader, header
    raise InputError(f"{root}: {PREFIX}{stem}.csv(.gz) not found; --root must be the MIMIC-CXR-JPG folder "
                     "holding the split, metadata and chexpert CSVs")


def _require(path: Path, header: list[str], columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(header)}")


def subject_group(subject_id: str) -> int:
    return int(subject_id[:2])


class MimicCXR(Dataset):
    name = "mimic-cxr"
    has_images = True
    licence = "PhysioNet Credentialed Health Data License 1.5.0 (MIMIC-CXR-JPG 2.0.0); do not redistribute"

    def __init__(self, root: str | Path | None = None, strict: bool = True, reports_root: str | Path | None = None):
        super().__init__(root, strict)
        if self.root is None:
            raise InputError("mimic-cxr needs --root (the MIMIC-CXR-JPG folder)")
        if reports_root:
            self.reports_root = Path(reports_root)
        elif (self.root / "mimic-cxr-reports" / "files").is_dir():
            self.reports_root = self.root / "mimic-cxr-reports"
        else:
            self.reports_root = self.root

    # --- the three CSVs -----------------------------------------------------------------------
    def read_labels(self, skips: Skips) -> dict[str, dict[str, float | None]]:
        path, reader, header = open_csv(self.root, "chexpert")
        _require(path, header, ("subject_id", "study_id") + CHEXPERT_14)
        labels = {}
        for line, row in enumerate(reader, start=2):
            where = f"{path.name}, row {line}"
            try:
                labels[row["study_id"]] = {c: parse_label(row[c], f"{where}, column {c!r}") for c in CHEXPERT_14}
            except InputError as exc:
                skips.skip("invalid CheXpert label value", str(exc), malformed=True)
        return labels

    def read_split(self) -> tuple[dict[str, tuple[str, str, str]], set[str]]:
        path, reader, header = open_csv(self.root, "split")
        _require(path, header, ("dicom_id", "study_id", "subject_id", "split"))
        images, test_studies = {}, set()
        for line, row in enumerate(reader, start=2):
            if row["split"] not in OFFICIAL_SPLITS:
                raise InputError(f"{path.name}, row {line}: split {row['split']!r} is not one of {OFFICIAL_SPLITS}")
            if row["dicom_id"] in images:
                raise InputError(f"{path.name}, row {line}: duplicate dicom_id {row['dicom_id']}")
            images[row["dicom_id"]] = (row["subject_id"], row["study_id"], row["split"])
            if row["split"] == "test":
                test_studies.add(row["study_id"])
        return images, test_studies

    def read_views(self) -> dict[str, str]:
        return {dicom: view for dicom, (view, _) in self.read_metadata().items()}

    def read_metadata(self) -> dict[str, tuple[str, str]]:
        """dicom_id → (view, StudyDate as written: YYYYMMDD in the shifted timeline MIMIC-IV's anchor years share)."""
        path, reader, header = open_csv(self.root, "metadata")
        _require(path, header, ("dicom_id", "ViewPosition"))
        return {row["dicom_id"]: ((row["ViewPosition"] or "").strip().upper(), (row.get("StudyDate") or "").strip())
                for row in reader}

    # --- MIMIC-IV demographics (hosp/patients.csv, hosp/admissions.csv), joined by subject_id ----------
    @staticmethod
    def read_demographics(folder: Path) -> tuple[dict[str, tuple[str, str, str]], dict[str, set[str]]]:
        """subject → (gender, anchor_age, anchor_year) from patients.csv, and subject → its race values over
        its admissions from admissions.csv (older releases call the column `ethnicity`)."""
        def table(stem: str) -> tuple[Path, list[str], Iterator[dict[str, str]]]:
            for base in (folder, folder / "hosp"):
                for name in (f"{stem}.csv", f"{stem}.csv.gz"):
                    if (base / name).is_file():
                        header, rows = open_table(base / name)
                        return base / name, header, rows
            raise InputError(f"{folder}: MIMIC-IV {stem}.csv(.gz) not found (looked in it and in its hosp/ folder); "
                             "--demographics must be the MIMIC-IV folder")
        path, header, rows = table("patients")
        _require(path, header, ("subject_id", "gender", "anchor_age", "anchor_year"))
        patients = {r["subject_id"]: (r["gender"], r["anchor_age"], r["anchor_year"]) for r in rows}
        path, header, rows = table("admissions")
        column = "race" if "race" in header else "ethnicity"
        _require(path, header, ("subject_id", column))
        races: dict[str, set[str]] = {}
        for r in rows:
            value = (r[column] or "").strip()
            if value:
                races.setdefault(r["subject_id"], set()).add(value)
        return patients, races

    @staticmethod
    def demographics_of(subject: str, study_date: str, patients: dict[str, tuple[str, str, str]],
                        races: dict[str, set[str]], counts: Counter) -> dict[str, Any]:
        """A prompt's sex, age at the study and race group; unknown where missing or conflicting, counted."""
        from ..subgroups import DEFAULTS, SEXES, UNKNOWN, race_group

        gender, anchor_age, anchor_year = patients.get(subject, ("", "", ""))
        sex = SEXES.get(gender.strip().lower(), UNKNOWN)
        if sex == UNKNOWN:
            counts["sex unknown (no MIMIC-IV patient row, or no gender)"] += 1
        age: int | str = UNKNOWN
        try:
            age = int(anchor_age) + (int(study_date[:4]) - int(anchor_year) if study_date[:4].isdigit() else 0)
            if not study_date[:4].isdigit():
                counts["age from anchor_age (no StudyDate in the metadata)"] += 1
        except ValueError:
            counts["age unknown (no anchor_age/anchor_year)"] += 1
        raw = sorted(races.get(subject, ()))
        groups = {race_group(r, DEFAULTS["race_groups"]) for r in raw} - {UNKNOWN}
        race = groups.pop() if len(groups) == 1 else UNKNOWN
        if len(groups) > 0:
            counts["race unknown (admissions disagree)"] += 1
        elif not raw or race == UNKNOWN:
            counts["race unknown (none recorded, or unmapped)"] += 1
        return {"sex": sex, "age": age, "race": race, "race_raw": ";".join(raw)}

    # --- selection -------------------------------------------------------------------------------
    @staticmethod
    def split_filter(split: str, test_studies: set[str]):
        if split == "train":
            return lambda subject, study, official: 10 <= subject_group(subject) <= 18 and study not in test_studies
        if split in OFFICIAL_SPLITS:
            return lambda subject, study, official: official == split
        m = _GROUPS.match(split)
        if m:
            lo, hi = int(m[1]), int(m[2] or m[1])
            return lambda subject, study, official: lo <= subject_group(subject) <= hi
        raise InputError(f"mimic-cxr: unknown split {split!r}; use train, p19, test, validate, pNN or pNN-pMM")

    def report_path(self, subject: str, study: str) -> Path:
        return self.reports_root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}.txt"

    def image_path(self, subject: str, study: str, dicom: str) -> str:
        return f"files/p{subject[:2]}/p{subject}/s{study}/{dicom}.jpg"

    def prompts(self, split: str = "p19", views: tuple[str, ...] | None = ("PA",), section: str = "impression",
                min_chars: int | None = 7, max_tokens: int | None = CLIP_CONTEXT, no_finding_cap: int | None = None,
                limit: int | None = None, seed: int = 0, check_images: bool = True, demographics: str | Path | None = None,
                demographic_prompts: bool = False, **_: Any) -> PromptTable:
        if demographic_prompts and not demographics:
            raise InputError("--demographic-prompts needs --demographics (the MIMIC-IV folder with hosp/patients.csv and "
                             "hosp/admissions.csv)")
        if section not in SECTION_CHOICES:
            raise InputError(f"mimic-cxr: unknown section {section!r}; choose from {', '.join(SECTION_CHOICES)}")
        extract = SECTION_CHOICES[section]
        skips = Skips(strict=self.strict)
        labels = self.read_labels(skips)
        images, test_studies = self.read_split()
        metadata = self.read_metadata()
        view_of = {dicom: view for dicom, (view, _) in metadata.items()}
        patients, races = self.read_demographics(Path(demographics)) if demographics else ({}, {})
        counts: Counter = Counter()
        keep = self.split_filter(split, test_studies)
        wanted_views = {v.upper() for v in views} if views else None
        reports: dict[str, tuple[str, str] | None] = {}
        rows = []
        for dicom, (subject, study, official) in images.items():
            if not keep(subject, study, official):
                continue
            where = f"dicom_id {dicom} (study s{study})"
            view = view_of.get(dicom)
            if view is None:
                skips.skip("not in the metadata CSV", where, malformed=True)
                continue
            if wanted_views is not None and view not in wanted_views:
                skips.skip(f"view {view or 'unknown'} not in {','.join(sorted(wanted_views))}", where)
                continue
            if study not in labels:
                skips.skip("study not in the CheXpert CSV", where, malformed=True)
                continue
            if study not in reports:
                reports[study] = self._read_report(self.report_path(subject, study), extract, skips, where)
            if reports[study] is None:
                continue
            text, source = reports[study]
            if not text:
                skips.skip(f"no {section} section", where)
                continue
            who = self.demographics_of(subject, metadata[dicom][1], patients, races, counts) if demographics else {}
            if demographic_prompts:  # RoentGen-v2's form; the CLIP-token filter reads the whole prompt
                text = demographic_prompt(text, None if who["age"] == "unknown" else who["age"], who["sex"],
                                          who["race"])
            dropped = text_filter(text, min_chars, max_tokens)
            if dropped:
                skips.skip(dropped.replace("text", "impression", 1), where)
                continue
            image = self.image_path(subject, study, dicom)
            if check_images and not (self.root / image).is_file():
                skips.skip("image file missing", f"{where}: {self.root / image}", malformed=True)
                continue
            rows.append({"prompt_id": dicom, "text": text, **labels[study], "view": view, "image_path": image,
                         "subject_id": subject, "study_id": study, "official_split": official, "text_source": source,
                         **who})
        rows.sort(key=lambda r: (r["subject_id"], r["study_id"], r["prompt_id"]))
        rows = cap_and_sample(rows, skips, no_finding_cap, limit, seed)
        description = {"dataset": self.name, "licence": self.licence, "has_images": True, "root": str(self.root),
                       "split": split, "views": sorted(wanted_views) if wanted_views else "all", "section": section,
                       "filters": {"min_chars": min_chars, "max_clip_tokens": max_tokens,
                                   "no_finding_cap": no_finding_cap, "limit": limit, "seed": seed},
                       "labels": "MIMIC-CXR CheXpert labeler output (mimic-cxr-2.0.0-chexpert.csv)",
                       "prompts": len(rows), "skipped": skips.as_dict()}
        extra = ("subject_id", "study_id", "official_split", "text_source")
        if demographics:
            from ..subgroups import DEFAULTS

            description["demographics"] = {
                "source": str(demographics), "joined_by": "subject_id",
                "age": "anchor_age + (StudyDate year − anchor_year)", "race_groups": DEFAULTS["race_groups"],
                "demographic_prompts": demographic_prompts,
                "unknown": dict(sorted(counts.items())),
                "prompts_per_group": {attr: dict(sorted(Counter(str(r[attr]) for r in rows).items()))
                                      for attr in ("sex", "race")}}
            extra += ("sex", "age", "race", "race_raw")
        return PromptTable(rows, description, extra_columns=extra)

    def _read_report(self, path: Path, extract, skips: Skips, where: str) -> tuple[str, str] | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            skips.skip("report file missing", f"{where}: {path}", malformed=True)
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")  # MIMIC reports are ASCII; a stray byte must not lose the report
            skips.counts["reports decoded as latin-1 (not UTF-8)"] += 1
        return extract(text)
