"""How well the rule-based labeller agrees with OpenI's MeSH major terms, per CheXpert class.

    python -m cxrgen_bench.data.labeller_eval > docs/labeller.md

MeSH terms are assigned by NLM indexers from the whole report, so the labeller reads FINDINGS and
IMPRESSION together; a class counts as labelled when the labeller says 1 (positive) or −1
(uncertain). Precision and recall are against MeSH (itself an imperfect reference: indexers skip
incidental findings), so they are agreement figures, not accuracy.
"""
from __future__ import annotations

from typing import Any

from .datasets.openi import OpenI
from .labeller import label_report

MESH_TO_CHEXPERT: dict[str, tuple[str, ...]] = {
    "Atelectasis": ("Pulmonary Atelectasis", "Atelectasis"),
    "Cardiomegaly": ("Cardiomegaly",),
    "Consolidation": ("Consolidation",),
    "Edema": ("Pulmonary Edema", "Pulmonary Congestion", "Edema"),
    "Fracture": ("Fractures, Bone",),
    "Lung Lesion": ("Nodule", "Mass", "Lung Neoplasms", "Neoplasm Metastasis"),
    "Lung Opacity": ("Opacity", "Airspace Disease", "Infiltrate"),
    "No Finding": ("normal",),
    "Pleural Effusion": ("Pleural Effusion",),
    "Pneumonia": ("Pneumonia",),
    "Pneumothorax": ("Pneumothorax",),
    "Support Devices": ("Catheters, Indwelling", "Implanted Medical Device", "Tube, Inserted", "Medical Device",
                        "Stents", "Pacemaker, Artificial"),
}


def mesh_classes(terms: list[str]) -> set[str]:
    heads = {t.split("/")[0].strip() for t in terms}
    return {c for c, names in MESH_TO_CHEXPERT.items() if heads & set(names)}


def agreement() -> dict[str, dict[str, Any]]:
    counts = {c: {"tp": 0, "fp": 0, "fn": 0} for c in MESH_TO_CHEXPERT}
    n = 0
    for report in OpenI().reports():
        text = " ".join(t for t in (report["findings"], report["impression"]) if t)
        if not text or not report["mesh_major"] or report["mesh_major"] == ["No Indexing"]:
            continue
        n += 1
        truth = mesh_classes(report["mesh_major"])
        labels = label_report(text)
        for c in counts:
            predicted = labels[c] in (1.0, -1.0)
            if predicted and c in truth:
                counts[c]["tp"] += 1
            elif predicted:
                counts[c]["fp"] += 1
            elif c in truth:
                counts[c]["fn"] += 1
    out = {}
    for c, k in counts.items():
        p = k["tp"] / (k["tp"] + k["fp"]) if k["tp"] + k["fp"] else None
        r = k["tp"] / (k["tp"] + k["fn"]) if k["tp"] + k["fn"] else None
        f1 = 2 * p * r / (p + r) if p and r else None
        out[c] = {"precision": p, "recall": r, "f1": f1, "mesh_positive": k["tp"] + k["fn"], **k}
    out["_reports"] = {"n": n}
    return out


def markdown(result: dict[str, dict[str, Any]]) -> str:
    def f(v: float | None) -> str:
        return "—" if v is None else f"{v:.2f}"

    lines = ["# Rule-based labeller: agreement with OpenI MeSH major terms", "",
             (__doc__ or "").strip().split("\n\n", 1)[1], "",
             f"Reports with MeSH indexing: {result['_reports']['n']}. "
             "Command: `python -m cxrgen_bench.data.labeller_eval`.", "",
             "| class | MeSH positives | precision | recall | F1 |", "|---|---|---|---|---|"]
    for c, v in result.items():
        if c.startswith("_"):
            continue
        lines.append(f"| {c} | {v['mesh_positive']} | {f(v['precision'])} | {f(v['recall'])} | {f(v['f1'])} |")
    lines += ["", "Enlarged Cardiomediastinum and Pleural Other have no reliable MeSH counterpart and are not "
              "scored here; the hand-checked sentences in `tests/data/labeller_cases.tsv` cover them."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(agreement()), end="")
