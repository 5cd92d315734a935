"""`data prompts` over MIMIC-CXR-sized inputs: 377,110 images, 227,835 studies, 65,379 subjects,
generated in the official layout (CSVs gzipped as distributed, one report .txt per study).

    python benchmarks/mimic_prompts.py [--images 377110] [--out /tmp/mimic-bench]

Image files are not generated (377k JPEGs); the timed runs pass check_images=False.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import random
import time
from pathlib import Path

from cxrgen_bench.data.datasets.mimic import MimicCXR
from cxrgen_bench.data.labels import CHEXPERT_14

IMPRESSIONS = ["No acute cardiopulmonary process.", "Small left pleural effusion.", "Moderate cardiomegaly.",
               "Right lower lobe pneumonia.", "Mild pulmonary edema. No pneumothorax.", "Bibasilar atelectasis.",
               "Endotracheal tube terminates 4 cm above the carina.", "Large right pneumothorax."]


def generate(root: Path, n_images: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    n_studies = int(n_images * 227_835 / 377_110)
    n_subjects = int(n_images * 65_379 / 377_110)
    subjects = [f"{rng.randint(10, 19)}{i:06d}" for i in range(n_subjects)]
    studies = [(f"5{i:07d}", rng.choice(subjects)) for i in range(n_studies)]
    with gzip.open(root / "mimic-cxr-2.0.0-chexpert.csv.gz", "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(["subject_id", "study_id", *CHEXPERT_14])
        for study, subject in studies:
            w.writerow([subject, study, *[rng.choice(["", "", "", "1.0", "0.0", "-1.0"]) for _ in CHEXPERT_14]])
    with gzip.open(root / "mimic-cxr-2.0.0-split.csv.gz", "wt", newline="") as fs, \
            gzip.open(root / "mimic-cxr-2.0.0-metadata.csv.gz", "wt", newline="") as fm:
        ws, wm = csv.writer(fs), csv.writer(fm)
        ws.writerow(["dicom_id", "study_id", "subject_id", "split"])
        wm.writerow(["dicom_id", "subject_id", "study_id", "ViewPosition"])
        for i in range(n_images):
            study, subject = studies[i % n_studies]
            split = "test" if int(study) % 97 == 0 else "validate" if int(study) % 101 == 0 else "train"
            ws.writerow([f"{i:08x}-dicom", study, subject, split])
            wm.writerow([f"{i:08x}-dicom", subject, study, rng.choice(["PA", "AP", "LATERAL", "AP", "PA"])])
    for study, subject in studies:
        folder = root / "files" / f"p{subject[:2]}" / f"p{subject}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"s{study}.txt").write_text(f"FINDINGS: See below.\n\nIMPRESSION: {rng.choice(IMPRESSIONS)}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=377_110)
    ap.add_argument("--out", default="/tmp/mimic-bench")
    args = ap.parse_args()
    root = Path(args.out)
    if not (root / "mimic-cxr-2.0.0-split.csv.gz").exists():
        start = time.perf_counter()
        generate(root, args.images)
        print(f"generated {args.images} images' CSV rows and reports in {time.perf_counter() - start:.0f} s")
    for split, views in (("train", None), ("train", ("PA",)), ("p19", ("PA",)), ("test", None)):
        start = time.perf_counter()
        table = MimicCXR(root, strict=False).prompts(split=split, views=views, check_images=False)
        print(f"split={split:5s} views={','.join(views) if views else 'all':3s} -> {len(table.rows):7d} prompts "
              f"in {time.perf_counter() - start:5.1f} s")


if __name__ == "__main__":
    main()
