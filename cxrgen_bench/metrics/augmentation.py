"""Downstream utility (RoentGen Table 5): a DenseNet-121 trained from scratch on real and/or
synthetic images, scored on held-out real test images. Computed by `cxrgen-bench study augmentation`
(cxrgen_bench/studies/augmentation.py); the same cards carry the numbers typed in from the paper.

Keys have one option per training mix, e.g. ``augmentation_auroc[real-1100+synthetic-1100]``; each
option is a row of its own on the board (the paper's rows), with the mean over seeds, its spread and a
95% CI over seeds. `augmentation_auroc_gain` is the difference to the real-only baseline, paired by
seed.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..card import Card
from ..data.labels import LabelPolicySettings
from ..settings import Settings, setting
from ..training.classifier import ClassifierSettings
from .base import StudyMetric

_TABLE5 = ("Table 5 (AUROC / accuracy, one run each, on a 5k sample of MIMIC-CXR p19): 1.1k real 0.73 / 0.71; "
           "1.1k synthetic 0.69 / 0.66; 1.1k real + 1.1k synthetic 0.77 / 0.76; 5.5k synthetic 0.75 / 0.78; "
           "1.1k real + 5.5k synthetic 0.76 / 0.77; 30k real 0.82 / 0.75; 30k synthetic 0.80 / 0.74; "
           "30k real + 30k synthetic 0.84 / 0.79")


@dataclass(frozen=True)
class AugmentationSettings(Settings):
    """The profile's `augmentation_auroc` block: the augmentation study's settings (its flags override some)."""

    classes: tuple[str, ...] = setting((), "the findings the classifiers learn (RoentGen: six)")
    labels: LabelPolicySettings | None = setting(None, "training labels (null: U-Ones, uncertain trains as present)")
    eval_labels: LabelPolicySettings | None = setting(None, "validation and test labels (null: uncertain left out, "
                                                            "blank 0)")
    classifier: ClassifierSettings = setting(ClassifierSettings(), "the classifier and its training")
    plan: tuple[str, ...] | None = setting(None, "training mixes REAL:SYNTHETIC (null: Table 5's eight)")
    baseline: str | None = setting(None, "the mix gains are measured against (null: the smallest real-only mix)")
    seeds: tuple[int, ...] | None = setting(None, "training seeds per mix (null: 0, 1, 2)")
    validation_fraction: float = setting(0.1, "share of the real pool held out for validation without --real-val",
                                         minimum=0.0, maximum=1.0)
    validation_seed: int = setting(0, "seed of that draw")


class AugmentationMetric(StudyMetric):
    """A card of the augmentation study: its settings are the study's profile block."""

    Settings = AugmentationSettings
    profile_block = "augmentation_auroc"
    study = "augmentation"


class AugmentationAUROC(AugmentationMetric):
    card = Card(name="augmentation_auroc", direction="higher", value_range=(0.0, 1.0), label="AUROC",
                summary="Mean test AUROC over the six findings of a DenseNet-121 trained on real and/or synthetic "
                        "images (mean over seeds)",
                version="1", requires=("training_budget",), section="augmentation", order=1, option_rows=True,
                reported=_TABLE5,
                limitations="One test set of real images; the CI is over training seeds (the spread of training), "
                            "not over test images.")


class AugmentationAccuracy(AugmentationMetric):
    card = Card(name="augmentation_accuracy", direction="higher", value_range=(0.0, 1.0), label="Accuracy",
                summary="Mean per-class test accuracy at probability 0.5 of the same classifiers (mean over seeds)",
                version="1", requires=("training_budget",), section="augmentation", order=2, option_rows=True,
                reported=_TABLE5,
                limitations="The paper does not define its multi-label accuracy; here: per-class accuracy at 0.5, "
                            "averaged over classes.")


class AugmentationGain(AugmentationMetric):
    card = Card(name="augmentation_auroc_gain", direction="higher", value_range=(-1.0, 1.0), label="ΔAUROC",
                summary="Test AUROC minus the real-only baseline's, paired by seed (the paper's ↑/↓ column)",
                version="1", requires=("training_budget",), section="augmentation", order=3, option_rows=True,
                reported="Table 5, vs 1.1k real: 1.1k synthetic −0.04, 1.1k real + 1.1k synthetic +0.04, 5.5k synthetic "
                         "+0.02, 1.1k real + 5.5k synthetic +0.03, 30k real +0.09, 30k synthetic +0.07, "
                         "30k real + 30k synthetic +0.11")


class AugmentationUnderdiagnosisGap(AugmentationMetric):
    card = Card(name="augmentation_underdiagnosis_gap", direction="lower", value_range=(0.0, 1.0),
                label="Underdiagnosis gap",
                summary="Best − worst group's false-positive rate of No Finding on the test patients (--fairness-by), "
                        "mean over seeds: how much more often the classifier misses disease in one group",
                version="1", requires=("training_budget",), section="augmentation", order=4, option_rows=True,
                reported="RoentGen-v2: synthetic training data narrowed the underdiagnosis gap by 19.3 %",
                limitations="Groups with fewer patients with a finding than subgroups.min_size are left out of the gap.")


class AugmentationUnderdiagnosisGapChange(AugmentationMetric):
    card = Card(name="augmentation_underdiagnosis_gap_change", direction="lower", value_range=(-1.0, 1.0),
                label="Δ underdiagnosis gap",
                summary="The underdiagnosis gap minus the real-only baseline's, paired by seed (negative: fairer)",
                version="1", requires=("training_budget",), section="augmentation", order=5, option_rows=True)
