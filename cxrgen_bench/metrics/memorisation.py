"""Cards of the memorisation study's metrics (computed by `cxrgen-bench study memorisation`, see
`cxrgen_bench/studies/memorisation.py` and docs/memorisation.md). One key per space:
``memorisation_share[pixel]``, ``memorisation_share[phantom-evaluator]``, ..."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..card import Card
from ..settings import Settings, setting
from .base import StudyMetric

SPACE_LABELS = (("pixel", "pixels"), ("reid-siamese", "re-id"))
LIMITS = ("A generated image is compared with the training set only: a generator can still reproduce a patient seen "
          "elsewhere. The threshold is the q-quantile of real held-out images' nearest-training distances, so the "
          "held-out images must come from the training distribution but not the training set itself.")


@dataclass(frozen=True)
class MemorisationSettings(Settings):
    """The profile's `memorisation_share` block: the memorisation study's settings (its flags override them)."""

    quantile: float = setting(0.05, "q: the threshold is the q-quantile of held-out nearest-training distances (a "
                                     "non-memorising generator's expected share)", minimum=0.0, maximum=1.0)
    pixel_size: int = setting(64, "side of the pixel space", minimum=4)
    feature_distance: Literal["cosine", "euclidean"] = setting("cosine", "distance in the encoders' spaces")
    bootstrap: int = setting(1000, "bootstrap resamples for CIs (0: none)", minimum=0)
    seed: int = setting(0, "seed of the bootstrap")
    top_pairs: int = setting(16, "closest pairs drawn per space", minimum=0)
    min_held_out: int = setting(20, "held-out images needed to calibrate the threshold", minimum=1)
    query_block: int = setting(1024, "generated rows per nearest-neighbour block (changes no number)", minimum=1)
    reference_block: int | None = setting(None, "training rows per block (null: as many as fit in 32 MiB of "
                                                "float64)", minimum=1)
    drop_held_out_overlap: bool = setting(False, "drop held-out images that are training images (recorded); "
                                                 "false: they stop the run")


class MemorisationShare(StudyMetric):
    Settings = MemorisationSettings
    study = "memorisation"
    card = Card(name="memorisation_share", direction="lower", value_range=(0.0, 1.0), label="Memorised",
                summary="Share of generated images closer to their nearest training image than the threshold "
                        "calibrated on real held-out images (a non-memorising generator's expected share is q).",
                requires=("training_budget",), section="memorisation", scale="percent", order=10,
                options=SPACE_LABELS, limitations=LIMITS)


class MemorisationRatio(StudyMetric):
    Settings = MemorisationSettings
    profile_block = "memorisation_share"
    study = "memorisation"
    card = Card(name="memorisation_ratio", direction="lower", value_range=(0.0, None), label="Memorised / q",
                summary="memorisation_share divided by q, the share expected of a generator that does not copy its "
                        "training images: about 1 for real held-out images, 1/q when every image is a copy.",
                requires=("training_budget",), section="memorisation", scale="open", order=20,
                options=SPACE_LABELS, limitations=LIMITS)


class MemorisationDistance(StudyMetric):
    Settings = MemorisationSettings
    profile_block = "memorisation_share"
    study = "memorisation"
    card = Card(name="memorisation_distance", direction="higher", value_range=(0.0, None), label="NN distance",
                summary="Median distance of a generated image to its nearest training image (pixel RMSE in [0, 1], "
                        "or the feature space's distance); real held-out images' median is in the details.",
                requires=("training_budget",), section="memorisation", scale="open", order=30,
                options=SPACE_LABELS,
                limitations="Higher is further from the training set, which noise or a poor generator also achieves: "
                            "read it beside fidelity, and beside the held-out median.")
