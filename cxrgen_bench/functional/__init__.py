"""Pure numerics: arrays in, numbers out, no I/O. The stable functional API lives here."""
from .agreement import cohen_kappa, krippendorff_alpha
from .auroc import binary_auroc, classwise_auroc, filtered_average, macro_average
from .text_knowledge import chexpert_at_k
from .inception_score import inception_score
from .radiomics_distance import frechet_radiomics_distance
from .frechet import (FeatureStats, FrechetResult, frechet_distance, frechet_distance_detailed,
                      frechet_distance_from_features, frechet_distance_from_stats)
from .kernel_distances import cmmd, kid
from .label_f1 import chexpert_f1
from .msssim import MS_SSIM_WEIGHTS, ms_ssim
from .prdc import prdc
from .report_entities import entity_f1, radgraph_reward
from .radcliq import radcliq_v1
from .retrieval import precision_at_k
from .significance import approximate_randomization
from .subgroups import group_gap
from .text_overlap import corpus_bleu4, rouge_l

__all__ = [
    "FeatureStats", "FrechetResult", "MS_SSIM_WEIGHTS", "approximate_randomization", "binary_auroc",
    "chexpert_at_k", "chexpert_f1", "classwise_auroc", "cmmd", "cohen_kappa", "corpus_bleu4",
    "entity_f1", "filtered_average", "frechet_distance", "frechet_distance_detailed",
    "frechet_distance_from_features", "frechet_distance_from_stats", "frechet_radiomics_distance", "group_gap",
    "inception_score", "kid", "krippendorff_alpha", "macro_average", "ms_ssim", "prdc", "precision_at_k", "radcliq_v1",
    "radgraph_reward", "rouge_l",
]
