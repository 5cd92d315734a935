"""Metric cards for every key a results entry can hold: registered metrics give their own card;
metrics of the RoentGen framework that so far only appear as reported numbers (report generation,
retrieval, augmentation, CheXpert@k) are described here. Renderers and the gate read direction and
labels from this one place."""
from __future__ import annotations

from dataclasses import dataclass

from ..registry import METRICS


@dataclass(frozen=True)
class Card:
    name: str
    direction: str  # "lower" or "higher" is better
    label: str
    scale: str = "unit"  # "unit" (0–1 scores), "percent" (0–100) or "open" (unbounded, e.g. FID)


REPORTED_ONLY: dict[str, Card] = {
    **{f"rrg_{k}": Card(f"rrg_{k}", "higher", label, "percent") for k, label in (
        ("bleu4", "BLEU-4"), ("rouge_l", "ROUGE-L"), ("f1_chexbert", "F1-CheXbert"), ("bertscore", "BERTScore"),
        ("factent", "factENT"), ("factentnli", "factENTNLI"), ("radgraph", "RadGraph"))},
    **{f"i2i_precision@{k}": Card(f"i2i_precision@{k}", "higher", f"P@{k}", "percent") for k in (5, 10, 50)},
    **{f"i2t_precision@{k}": Card(f"i2t_precision@{k}", "higher", f"P@{k}", "percent") for k in (5, 10, 50)},
    **{f"i2t_{k}": Card(f"i2t_{k}", "higher", label, "percent") for k, label in (
        ("f1_chexbert", "F1-CheXbert"), ("bertscore", "BERTScore"), ("factent", "factENT"), ("radgraph", "RadGraph"))},
    "augmentation_auroc": Card("augmentation_auroc", "higher", "AUROC"),
    "augmentation_accuracy": Card("augmentation_accuracy", "higher", "Accuracy"),
    "chexpert@10": Card("chexpert@10", "higher", "CheXpert@10", "percent"),
}
LABELS = {"fid": "FID", "ms_ssim": "MS-SSIM", "classifier_auroc": "AUROC", "laterality": "Laterality"}


def card_for(key: str) -> Card:
    """Card of a results key such as "fid[xrv-densenet121]", "ms_ssim" or "chexpert@10[cls]"."""
    base = key.split("[", 1)[0]
    if base in REPORTED_ONLY:
        return REPORTED_ONLY[base]
    if base in METRICS:
        c = METRICS.get(base).card()
        return Card(base, c["direction"], LABELS.get(base, base), "unit" if c["range"][1] == 1.0 else "open")
    raise KeyError(f"no metric card for {key!r}: register the metric or add it to leaderboard/catalog.py")
