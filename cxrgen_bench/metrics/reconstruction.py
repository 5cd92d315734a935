"""Cards of the VAE-reconstruction study (seeds/001 §2.3 and Table 1): real images encoded and
decoded by an autoencoder, compared pair by pair with the originals. Only the study computes them
(`cxrgen-bench study vae-reconstruction ...`, cxrgen_bench/studies/reconstruction.py); the numerics
are in cxrgen_bench/functional/reconstruction.py.

Pixel measures are on the canonical grayscale in [0, 1] at the autoencoder's resolution (data
range 1). seeds/001 reports RMSE 41.0 ± 8, PSNR 33.6 ± 1.8 dB and SSIM 0.92 ± 0.02 on 700 MIMIC images
through the SD 1.4 VAE; its RMSE is on an unstated pixel scale (not 0–255 with that PSNR), so only
PSNR and SSIM compare directly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..card import Card
from ..data.labels import LabelPolicySettings
from ..settings import Settings, setting
from .base import StudyMetric

STUDY = "vae-reconstruction"
REQUIRES = ("training_budget",)  # "a study": score refuses these with the study command
TABLE1_CLASSES = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
                  "Lung Lesion", "Lung Opacity", "Pleural Effusion", "Pleural Other", "Pneumonia", "Pneumothorax",
                  "Support Devices")


@dataclass(frozen=True)
class VAEReconstructionSettings(Settings):
    """The profile's `vae_reconstruction` block: the study's settings (its flags override them)."""

    autoencoder: str = setting("diffusers", "the autoencoder plug-in reading --vae")
    resolution: int | None = setting(None, "the autoencoder's input side (null: the profile's generation "
                                           "resolution)", minimum=1)
    resize: Literal["clean", "none"] = setting("clean", "clean: shorter side to the resolution, centre crop; none: "
                                                        "images must already be resolution²")
    chunk: int = setting(64, "images per resumable unit", minimum=1)
    max_images: int | None = setting(None, "the first N images in sorted id order (null: all)", minimum=1)
    precision: Literal["fp32", "fp16", "bf16"] = setting("fp32", "autoencoder precision")
    allow_pickle: bool = setting(False, "allow pickled (.bin) VAE weights (recorded)")
    backbones: tuple[str, ...] | None = setting(None, "backbones of the Fréchet distance (null: the profile's fid "
                                                      "backbones)")
    classifier: str | None = setting(None, "backbone whose classifier reads both sides (null: the profile's "
                                           "classifier_auroc backbone; '' for none)")
    classes: dict[str, str] | None = setting(None, "classifier output → CheXpert class (null: classifier_auroc's)")
    classifier_preprocessing: str | None = setting(None, "the classifier's input (null: classifier_auroc's, else "
                                                         "the backbone's)")
    embedding_layer: str | None = setting(None, "the layer whose embeddings are compared (null: the backbone's)")
    # xrv's outputs put each class's operating point at 0.5; the phantom evaluator's are sigmoids
    threshold: float = setting(0.5, "classifier operating point", minimum=0.0, maximum=1.0)
    # seeds/001 §2.3: uncertain counts as positive, blank as absent
    label_policy: LabelPolicySettings = setting(LabelPolicySettings(), "uncertain/blank labels")
    bootstrap: int = setting(1000, "resamples for 95% CIs (0: none)", minimum=0)
    bootstrap_seed: int = setting(0, "seed of the resamples", minimum=0)
    weights: dict[str, Any] = setting({}, "BACKBONE → weights file")


class ReconstructionMetric(StudyMetric):
    """A card of the VAE-reconstruction study: its settings are the study's profile block."""

    Settings = VAEReconstructionSettings
    profile_block = "vae_reconstruction"
    study = STUDY


class ReconRMSE(ReconstructionMetric):
    card = Card(name="recon_rmse", direction="lower", value_range=(0.0, 1.0), label="RMSE",
                summary="Root mean square error of each original/reconstruction pair (grayscale in [0, 1]); mean "
                        "over images.",
                requires=REQUIRES, section="reconstruction", order=10,
                reported="seeds/001 (SD 1.4 VAE, 700 MIMIC images): 41.0 ± 8 on an unstated pixel scale",
                limitations="Pixel-wise: a one-pixel shift of sharp edges costs as much as a lost lesion.")


class ReconPSNR(ReconstructionMetric):
    card = Card(name="recon_psnr", direction="higher", value_range=(0.0, 100.0), label="PSNR (dB)",
                summary="Peak signal-to-noise ratio of each pair (data range 1), capped at 100 dB for identical "
                        "images; mean over images.",
                requires=REQUIRES, scale="open", section="reconstruction", order=20,
                reported="seeds/001: 33.6 ± 1.8 dB (median 33.3, range 28.1–39.5)",
                limitations="Identical pairs reach the 100 dB cap (counted in details) instead of infinity.")


class ReconSSIM(ReconstructionMetric):
    card = Card(name="recon_ssim", direction="higher", value_range=(-1.0, 1.0), label="SSIM",
                summary="Structural similarity of each pair (Gaussian 11×11, σ 1.5, valid positions); mean over "
                        "images.",
                requires=REQUIRES, section="reconstruction", order=30,
                reported="seeds/001: 0.92 ± 0.02 (median 0.93, range 0.80–0.96)")


class ReconFD(ReconstructionMetric):
    card = Card(name="recon_fd", direction="lower", value_range=(0.0, None), label="FD", scale="open",
                summary="Fréchet distance of the reconstructions' features to the originals', per backbone.",
                requires=REQUIRES, section="reconstruction", order=40,
                options=(("inception-v3-fid", "Incep"), ("xrv-densenet121", "XRV"), ("clip-vit-b-32", "CLIP"),
                         ("phantom-evaluator", "phantom")),
                reported="seeds/001 computes FID of reconstructions (minibatches of 32) without printing it",
                limitations="Unpaired: a decoder that returns other images of the same distribution scores well.")


class ReconAccuracy(ReconstructionMetric):
    card = Card(name="recon_accuracy", direction="higher", value_range=(0.0, 1.0), label="Acc. recon.",
                scale="percent",
                summary="Classifier accuracy against the labels on reconstructions, per class (originals and "
                        "%change in details); headline: macro average.",
                requires=REQUIRES, section="reconstruction", order=50, per_class=TABLE1_CLASSES,
                headline_label="Acc. recon. (macro)",
                reported="seeds/001 Table 1 (originals → reconstructions): e.g. Atelectasis 40.1 → 40.7, "
                         "Pleural Other 55.4 → 50.3",
                limitations="Measures the classifier as much as the VAE; compare with the originals' row.")


class ReconF1(ReconstructionMetric):
    card = Card(name="recon_f1", direction="higher", value_range=(0.0, 1.0), label="F1 recon.", scale="percent",
                summary="Classifier F1 against the labels on reconstructions, per class (originals and %change in "
                        "details); headline: macro average over classes where F1 is defined.",
                requires=REQUIRES, section="reconstruction", order=60, per_class=TABLE1_CLASSES,
                headline_label="F1 recon. (macro)",
                reported="seeds/001 Table 1: e.g. Pleural Effusion 60.6 → 61.3, Pneumonia 26.9 → 25.4")


class ReconAgreement(ReconstructionMetric):
    card = Card(name="recon_agreement", direction="higher", value_range=(0.0, 1.0), label="Agreement",
                summary="Share of images whose thresholded classifier reading is the same on the original and the "
                        "reconstruction, per class; headline: macro average.",
                requires=REQUIRES, section="reconstruction", order=70, per_class=TABLE1_CLASSES,
                headline_label="Agreement (macro)",
                limitations="Needs no labels; a rare class agrees often by default (both readings negative).")


class ReconCosine(ReconstructionMetric):
    card = Card(name="recon_cosine", direction="higher", value_range=(-1.0, 1.0), label="Cosine",
                summary="Cosine similarity of the classifier's embeddings of each original/reconstruction pair; "
                        "mean over images (std, median and range in details).",
                requires=REQUIRES, section="reconstruction", order=80,
                reported="seeds/001: 0.99 ± 0.01 (median 0.99, range 0.94–1.00), DenseNet-121 embeddings")
