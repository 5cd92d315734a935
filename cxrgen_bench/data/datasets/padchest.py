"""PadChest (Bustos et al. 2020), with the prompt template of seeds/002 §IV.C:

    "chest x-ray, age {A} {sex}, view {V}, projection {P}, modality {M}, diagnosis {labels with localisations}"

e.g. "chest x-ray, age 47 male, view PA, projection PA, modality DX, diagnosis calcified granuloma,
loc right upper lobe". Age = study year − birth year. Reads the official label CSV
(PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv[.gz]) from --root, or the copy that ships
with torchxrayvision when no root is given (then without images). Images: ROOT/{ImageDir}/{ImageID}.

CheXpert-14 labels are mapped from PadChest's labels by `CHEXPERT_FROM_PADCHEST` (below): a mapped
class is 1 when one of its PadChest labels is present and 0 otherwise, because PadChest lists every
finding of a report (its labels are exhaustive, negations already removed). "normal" maps to No
Finding. PadChest labels without a CheXpert counterpart (e.g. COPD signs, scoliosis) are kept only
in the prompt text.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from ...errors import InputError
from ..labels import CHEXPERT_14
from .base import Dataset, PromptTable, Skips, cap_and_sample, open_table, text_filter
from .openi import torchxrayvision_data

CSV_NAME = "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv"
REQUIRED = ("ImageID", "ImageDir", "StudyDate_DICOM", "PatientBirth", "PatientSex_DICOM", "ViewPosition_DICOM",
            "Projection", "Modality_DICOM", "Labels", "LabelsLocalizationsBySentence")
VIEWS = {"POSTEROANTERIOR": "PA", "PA": "PA", "ANTEROPOSTERIOR": "AP", "AP": "AP", "LATERAL": "LATERAL", "LL": "LL",
         "RL": "RL"}
SEXES = {"M": "male", "F": "female"}

CHEXPERT_FROM_PADCHEST: dict[str, tuple[str, ...]] = {
    "Atelectasis": ("atelectasis", "laminar atelectasis", "lobar atelectasis", "segmental atelectasis",
                    "total atelectasis", "round atelectasis", "atelectasis basal"),
    "Cardiomegaly": ("cardiomegaly",),
    "Consolidation": ("consolidation",),
    "Edema": ("pulmonary edema", "kerley lines"),
    "Enlarged Cardiomediastinum": ("mediastinal enlargement", "superior mediastinal enlargement"),
    "Fracture": ("fracture", "rib fracture", "callus rib fracture", "clavicle fracture", "humeral fracture",
                 "vertebral fracture"),
    "Lung Lesion": ("nodule", "multiple nodules", "mass", "pulmonary mass", "lung metastasis", "cavitation",
                    "lepidic adenocarcinoma", "abscess", "cyst"),
    "Lung Opacity": ("infiltrates", "alveolar pattern", "interstitial pattern", "ground glass pattern",
                     "reticular interstitial pattern", "reticulonodular interstitial pattern", "increased density",
                     "miliary opacities", "air bronchogram"),
    "No Finding": ("normal",),
    "Pleural Effusion": ("pleural effusion", "costophrenic angle blunting", "loculated pleural effusion",
                         "loculated fissural effusion", "hydropneumothorax", "empyema"),
    "Pleural Other": ("pleural thickening", "apical pleural thickening", "calcified pleural thickening",
                      "pleural plaques", "calcified pleural plaques", "pleural mass", "asbestosis signs"),
    "Pneumonia": ("pneumonia", "atypical pneumonia"),
    "Pneumothorax": ("pneumothorax", "hydropneumothorax"),
    "Support Devices": ("pacemaker", "electrical device", "dual chamber device", "single chamber device", "NSG tube",
                        "endotracheal tube", "tracheostomy tube", "central venous catheter",
                        "central venous catheter via jugular vein", "central venous catheter via subclavian vein",
                        "central venous catheter via umbilical vein", "reservoir central venous catheter",
                        "chest drain tube", "catheter", "ventriculoperitoneal drain tube", "gastrostomy tube",
                        "nephrostomy tube", "double J stent", "artificial heart valve", "artificial mitral heart valve",
                        "artificial aortic heart valve", "aortic endoprosthesis", "endoprosthesis"),
}
_REVERSE: dict[str, list[str]] = {}
for _cls, _names in CHEXPERT_FROM_PADCHEST.items():
    for _n in _names:
        _REVERSE.setdefault(_n, []).append(_cls)


def chexpert_labels(padchest_labels: list[str]) -> dict[str, float | None]:
    present = {c for name in padchest_labels for c in _REVERSE.get(name, ())}
    return {c: 1.0 if c in present else 0.0 for c in CHEXPERT_14}


def build_prompt(age: int | None, sex: str, view: str, projection: str, modality: str, diagnosis: str) -> str:
    age_part = f"age {age} {sex}" if age is not None else sex
    return f"chest x-ray, {age_part}, view {view}, projection {projection}, modality {modality}, diagnosis {diagnosis}"


class PadChest(Dataset):
    name = "padchest"
    has_images = True
    licence = "PadChest Dataset Research Use Agreement (BIMCV); do not redistribute"

    def csv_path(self) -> Path:
        folder = self.root or torchxrayvision_data()
        for name in (CSV_NAME, CSV_NAME + ".gz"):
            if (folder / name).is_file():
                return folder / name
        raise InputError(f"{folder}: {CSV_NAME}(.gz) not found; --root must be the PadChest folder")

    def prompts(self, views: tuple[str, ...] | None = None, limit: int | None = None, seed: int = 0,
                check_images: bool = True, min_chars: int | None = None, max_tokens: int | None = None,
                no_finding_cap: int | None = None, **_: Any) -> PromptTable:
        path = self.csv_path()
        has_images = self.root is not None
        skips = Skips(strict=self.strict)
        wanted = {v.upper() for v in views} if views else None
        rows = []
        header, reader = open_table(path)
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
        if True:  # (the rows are read in one pass)
            for line, row in enumerate(reader, start=2):
                where = f"{path.name}, row {line} ({row['ImageID']})"
                view = VIEWS.get((row["ViewPosition_DICOM"] or "").strip().upper(), "")
                if not view and (row["Projection"] or "").strip() in ("PA", "AP"):
                    view = row["Projection"].strip()  # many rows lack the DICOM view; the projection says it
                if wanted is not None and view not in wanted:
                    skips.skip(f"view {view or 'unknown'} not in {','.join(sorted(wanted))}", where)
                    continue
                try:
                    labels = [s.strip() for s in ast.literal_eval(row["Labels"])]  # literal_eval: data, never code
                    by_sentence = ast.literal_eval(row["LabelsLocalizationsBySentence"])
                except (ValueError, SyntaxError):
                    skips.skip("unparseable Labels/LabelsLocalizationsBySentence", where, malformed=True)
                    continue
                terms: list[str] = []
                for group in by_sentence:
                    for term in group:
                        term = term.strip()
                        if term and term not in terms:
                            terms.append(term)
                if not terms or terms == [""]:
                    skips.skip("no labels", where)
                    continue
                age = self._age(row)
                image = f"{row['ImageDir']}/{row['ImageID']}"
                if has_images and check_images and not (self.root / image).is_file():
                    skips.skip("image file missing", f"{where}: {self.root / image}", malformed=True)
                    continue
                text = build_prompt(age, SEXES.get((row["PatientSex_DICOM"] or "").strip(), "unknown sex"), view or
                                    "unknown", (row["Projection"] or "").strip(), (row["Modality_DICOM"] or "").strip(),
                                    ", ".join(terms))
                dropped = text_filter(text, min_chars, max_tokens)
                if dropped:
                    skips.skip(dropped, where)
                    continue
                sex = {"F": "female", "M": "male"}.get((row["PatientSex_DICOM"] or "").strip(), "unknown")
                rows.append({"prompt_id": row["ImageID"], "text": text, **chexpert_labels(labels), "view": view,
                             "image_path": image if has_images else "", "padchest_labels": ";".join(labels),
                             "sex": sex, "age": "unknown" if age is None else age})
        rows = cap_and_sample(rows, skips, no_finding_cap, limit, seed)
        description = {"dataset": self.name, "licence": self.licence, "has_images": has_images, "csv": str(path),
                       "template": build_prompt(0, "{sex}", "{V}", "{P}", "{M}", "{labels}").replace("age 0", "age {A}"),
                       "labels": "CheXpert-14 mapped from PadChest labels (cxrgen_bench.data.datasets.padchest)",
                       "views": sorted(wanted) if wanted else "all", "prompts": len(rows), "skipped": skips.as_dict(),
                       "filters": {"min_chars": min_chars, "max_clip_tokens": max_tokens,
                                   "no_finding_cap": no_finding_cap, "limit": limit, "seed": seed}}
        return PromptTable(rows, description, extra_columns=("padchest_labels", "sex", "age"))

    @staticmethod
    def _age(row: dict[str, str]) -> int | None:
        try:
            return int(str(row["StudyDate_DICOM"])[:4]) - int(float(row["PatientBirth"]))
        except (TypeError, ValueError):
            return None
