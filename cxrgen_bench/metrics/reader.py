"""Cards of the reader study's numbers (RoentGen §6.5), computed by `cxrgen-bench reader-study analyse`
(`cxrgen_bench/reader/analysis.py`, docs/reader-study.md). Options: a reader's name or ``pooled`` for the
ratings, the task (``realism``, ``alignment``) for the agreement statistics:
``reader_realism[pooled]``, ``reader_realism[r1]``, ``reader_kappa[alignment]``, ..."""
from __future__ import annotations

from typing import Any, ClassVar

from ..card import Card
from ..data.labels import CHEXPERT_14
from ..errors import MetricError
from .base import StudyMetric

READERS = (("pooled", "pooled"), ("r1", "r1"), ("r2", "r2"))
TASKS = (("realism", "realism"), ("alignment", "alignment"))
FINDINGS = tuple(c for c in CHEXPERT_14 if c != "No Finding") + ("No Finding", "all")
REQUIRES = ("ratings",)
PAPER = ("RoentGen §6.5: two radiologists (7 and 9 years of experience), 104 realism pairs and 107 alignment "
         "items from a balanced sample of p19")


class ReaderStudyMetric(StudyMetric):
    study: ClassVar[str] = "reader-study"

    def compute(self, ctx: Any) -> list[dict[str, Any]]:
        raise MetricError(f"{self.card.name} comes from radiologists' ratings: cxrgen-bench reader-study create, "
                          "serve, then reader-study analyse STUDY --out reader.json (docs/reader-study.md)")


class ReaderRealism(ReaderStudyMetric):
    card = Card(name="reader_realism", direction="lower", value_range=(-2.0, 2.0), label="Realism",
                summary="Mean rating of blinded real/synthetic pairs on the paper's scale, −2 (the synthetic image is "
                        "more realistic) … 2 (the true image is much more realistic), ± std, per reader and pooled; "
                        "0 is a generator the readers cannot tell from real images.",
                requires=REQUIRES, section="reader", scale="unit", order=10, options=READERS,
                option_format="{label} {option}", per_class=FINDINGS, per_class_field="per_finding",
                reported=f"{PAPER}: realism 1.67 ± 0.63 (reader 1) and 1.81 ± 0.46 (reader 2)",
                limitations="Readers rate which of two images looks more realistic; the key turns that into the paper's "
                            "scale. Only as good as the readers' attention, and the real images' own look (device "
                            "artefacts, resolution) can give the pair away: read it beside fidelity metrics.")


class ReaderLeanReal(ReaderStudyMetric):
    card = Card(name="reader_lean_real", direction="lower", value_range=(0.0, 1.0), label="Leaned real",
                summary="Share of realism pairs in which the reader judged the real image more realistic (rating > 0); "
                        "a generator indistinguishable from real images gets about half, or fewer with ties.",
                requires=REQUIRES, section="reader", scale="percent", order=20, options=READERS,
                limitations="Ties (equally realistic) count as not leaning real; their share is in the details.")


class ReaderAlignment(ReaderStudyMetric):
    card = Card(name="reader_alignment", direction="higher", value_range=(-2.0, 2.0), label="Alignment",
                summary="Mean rating of synthetic image + prompt pairs, −2 (does not correspond at all) … 2 (aligns "
                        "perfectly), ± std, per reader and pooled; per finding in the details.",
                requires=REQUIRES, section="reader", scale="unit", order=30, options=READERS,
                per_class=FINDINGS, per_class_field="per_finding",
                reported=f"{PAPER}: alignment 0.41 ± 1.41 (reader 1) and 0.29 ± 1.36 (reader 2)",
                limitations="A finding is the stratum the item was drawn from (the rarest positive label of its prompt), "
                            "not every finding the prompt names.")


class ReaderKappa(ReaderStudyMetric):
    card = Card(name="reader_kappa", direction="higher", value_range=(-1.0, 1.0), label="Readers' κ",
                summary="Agreement of two readers on the same items: Cohen's κ with quadratic weights on the −2…2 "
                        "steps (the mean over pairs for more readers); 1 perfect, 0 chance.",
                requires=REQUIRES, section="reader_agreement", scale="unit", order=40, options=TASKS,
                limitations="Describes the readers and the scale, not the generator: a low κ means the other numbers "
                            "of the study are noisy.")


class ReaderAlpha(ReaderStudyMetric):
    card = Card(name="reader_alpha", direction="higher", value_range=(None, 1.0), label="Readers' α",
                summary="Krippendorff's α (ordinal) of all readers on the same items, missing ratings allowed; 1 "
                        "perfect, 0 chance.",
                requires=REQUIRES, section="reader_agreement", scale="unit", order=50, options=TASKS,
                limitations="Describes the readers and the scale, not the generator. Undefined when every rating is "
                            "the same value.")
