"""A tiny MIMIC-CXR-JPG tree in the official layout, written by the tests (reports written for them)."""
from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
from PIL import Image

from cxrgen_bench.data.labels import CHEXPERT_14

REPORTS = {
    # study: (subject, report text)
    "50000001": ("10000001", "FINDINGS: Heart size is normal.\n\nIMPRESSION: Small left pleural effusion."),
    "50000002": ("10000001", "EXAMINATION: CHEST\n\nIMPRESSION:\n No acute cardiopulmonary process."),
    "50000003": ("11000002", "FINDINGS: Lungs are clear.\nIMPRESSION: Normal."),  # 7 chars after cleaning: kept
    "50000004": ("12000003", "FINDINGS: Moderate cardiomegaly with mild pulmonary edema."),  # no impression
    "50000005": ("19000004", "IMPRESSION: Right lower lobe pneumonia. " + "Very long text. " * 40),  # > 77 tokens
    "50000006": ("19000004", "IMPRESSION: Large right pneumothorax."),
    "50000007": ("19000005", "IMPRESSION: No pneumothorax."),
    "50000008": ("13000006", "IMPRESSION: Stable cardiomegaly."),  # official test study
    "50000009": ("14000007", "IMPRESSION: Mild edema."),  # its report file will be missing
}
LABELS = {
    "50000001": {"Pleural Effusion": "1.0"}, "50000002": {"No Finding": "1.0"}, "50000003": {"No Finding": "1.0"},
    "50000004": {"Cardiomegaly": "1.0", "Edema": "1.0"}, "50000005": {"Pneumonia": "1.0"},
    "50000006": {"Pneumothorax": "1.0"}, "50000007": {"No Finding": "1.0", "Pneumothorax": "0.0"},
    "50000008": {"Cardiomegaly": "-1.0"}, "50000009": {"Edema": "1.0"},
}
# dicom_id: (study, view, official split)
IMAGES = {
    "d01": ("50000001", "PA", "train"), "d02": ("50000001", "LATERAL", "train"), "d03": ("50000002", "AP", "train"),
    "d04": ("50000003", "PA", "validate"), "d05": ("50000004", "PA", "train"), "d06": ("50000005", "PA", "train"),
    "d07": ("50000006", "PA", "train"), "d08": ("50000007", "PA", "train"), "d09": ("50000008", "PA", "test"),
    "d10": ("50000009", "PA", "train"),
}


# MIMIC-IV (hosp/patients.csv, hosp/admissions.csv) for the subjects above, in the shifted timeline
STUDY_DATES = {"50000001": "21800506", "50000002": "21820101", "50000003": "21500312", "50000004": "21700101",
               "50000005": "21900215", "50000006": "21910101", "50000007": "21600101"}
PATIENTS = {  # subject: (gender, anchor_age, anchor_year)
    "10000001": ("F", "52", "2180"), "11000002": ("M", "30", "2150"), "12000003": ("M", "70", "2168"),
    "19000004": ("F", "45", "2190"), "13000006": ("F", "61", "2155"),
}  # 19000005 and 14000007 have no patient row: unknown, counted
ADMISSIONS = [  # (subject, race) — several rows a subject; 19000004's disagree
    ("10000001", "WHITE"), ("10000001", "WHITE - OTHER EUROPEAN"), ("11000002", "BLACK/AFRICAN AMERICAN"),
    ("12000003", "ASIAN - CHINESE"), ("19000004", "WHITE"), ("19000004", "HISPANIC/LATINO - PUERTO RICAN"),
    ("13000006", "UNKNOWN"),
]


def make_mimic_iv(root: Path, gz: bool = True) -> Path:
    (root / "hosp").mkdir(parents=True, exist_ok=True)
    write_csv(root / "hosp" / "patients.csv", ["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group",
                                                "dod"], [[s, g, a, y, "2008 - 2010", ""] for s, (g, a, y) in PATIENTS.items()],
              gz)
    write_csv(root / "hosp" / "admissions.csv", ["subject_id", "hadm_id", "admittime", "race"],
              [[s, str(20000000 + i), "2180-01-01 00:00:00", race] for i, (s, race) in enumerate(ADMISSIONS)], gz)
    return root


def write_csv(path: Path, header: list[str], rows: list[list[str]], gz: bool) -> None:
    opener = gzip.open if gz else open
    with opener(str(path) + (".gz" if gz else ""), "wt", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def make_mimic(root: Path, gz: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    subject_of = {study: subject for study, (subject, _) in REPORTS.items()}
    write_csv(root / "mimic-cxr-2.0.0-split.csv", ["dicom_id", "study_id", "subject_id", "split"],
              [[d, s, subject_of[s], split] for d, (s, _, split) in IMAGES.items()], gz)
    write_csv(root / "mimic-cxr-2.0.0-metadata.csv",
              ["dicom_id", "subject_id", "study_id", "ViewPosition", "Rows", "Columns", "StudyDate"],
              [[d, subject_of[s], s, view, "64", "64", STUDY_DATES.get(s, "")] for d, (s, view, _) in IMAGES.items()], gz)
    write_csv(root / "mimic-cxr-2.0.0-chexpert.csv", ["subject_id", "study_id", *CHEXPERT_14],
              [[subject_of[s], s, *[LABELS[s].get(c, "") for c in CHEXPERT_14]] for s in REPORTS], gz)
    for study, (subject, text) in REPORTS.items():
        folder = root / "files" / f"p{subject[:2]}" / f"p{subject}"
        folder.mkdir(parents=True, exist_ok=True)
        if study != "50000009":
            (folder / f"s{study}.txt").write_text(text)
    for dicom, (study, _, _) in IMAGES.items():
        subject = subject_of[study]
        img = root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom}.jpg"
        img.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((64, 64), 100, np.uint8)).save(img)
    return root
