"""The metric card: the one place a metric's metadata lives.

Name, version, direction (which way is better), value range, what the metric needs from the thing
being evaluated, its display label and number format, the board section and column order it
belongs to, and its per-class breakdown. The leaderboard's sections and columns, the gate's and
`compare`'s directions, the demo's tables and `cxrgen-bench ls` all read cards and nothing else;
results files do not carry a copy. Metrics known only from numbers typed in from papers have cards
of the same form (`reported_only=True` on a plug-in whose values come only from papers).

This module is deliberately light (no numpy, no torch): listing cards and rendering boards must not
load models. It sits below the registry and the results store, which both read cards; finding the
card of a results key among the registered metrics is the registry's `card_for`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import RegistryError

# What a metric can require of an evaluation, each with what provides it (for error messages).
REQUIREMENTS: dict[str, str] = {
    "images": "an image set (--images)",
    "reference": "a reference image set of real images (--reference)",
    "prompts": "prompt texts (--prompts, or a prompt column in the image manifest)",
    "labels": "CheXpert label columns in the prompts CSV (--prompts)",
    "samples>=2": "at least two samples per prompt ({prompt_id}_{k}.png files or a manifest)",
    "image_encoder": "an image encoder (a registered backbone named by the profile)",
    "text_encoder": "a text encoder (--text-encoder)",
    "reports": "a report set (--reports: a CSV of reports with CheXpert labels)",
    "report_generator": "a report generator (--report-generator)",
    "report_pairs": "generated reports with their references (--report-generator with --images and --prompts, "
                    "or score-reports --hypotheses --references)",
    "training_budget": "a study that trains models (cxrgen-bench study ...)",
    "ratings": "radiologists' ratings from a reader study (cxrgen-bench reader-study create, serve, analyse)",
}
# Requirements a metric verifies itself while computing (they depend on the data or on weights), not
# checked against the subject before a run starts.
CHECKED_BY_METRIC = frozenset({"samples>=2", "image_encoder"})
DIRECTIONS = ("lower", "higher")
# How a value is shown; values are stored as computed: "unit" and "percent" scores are fractions in
# [0, 1], shown with 3 decimals or as a percentage with 1 (as the papers print them); "open" values are
# unbounded (Fréchet distance).
SCALES = ("unit", "percent", "open")


@dataclass(frozen=True)
class Section:
    """A board section: one table per profile, laid out like a table of the papers."""

    slug: str
    title: str
    source: str = ""
    notes: str = ""
    order: int = 1000
    # what the rows are: the board has one summary per kind ("generators", "text encoders", "autoencoders")
    subject: str = "generators"


SECTIONS: dict[str, Section] = {s.slug: s for s in (
    Section("fidelity", "Fidelity and diversity", "RoentGen Table 2", order=10),
    Section("beyond_fid", "Fidelity beyond FID", "cxrgen-bench (FD∞, KID, CMMD, precision/recall/density/coverage)",
            "The same features as FID, read by estimators with less bias at small n (FD∞, KID), another kernel "
            "(CMMD) or a split of fidelity and coverage (PRDC).", order=11),
    Section("laterality", "Laterality adherence", "cxrgen-bench (not in the papers)",
            "Share of images showing a finding on the side the prompt asks for (0.5: random side).", order=20),
    Section("auroc", "Classifier AUROC on generated images", "RoentGen Table 3",
            "Filtered average: classes whose AUROC on the real images exceeds the profile's threshold.", order=30),
    Section("rrg", "Factual correctness: report generation", "RoentGen Table 4 (top)", order=40),
    Section("i2i", "Image–image retrieval", "RoentGen Table 4 (middle)", order=50),
    Section("i2t", "Image–text retrieval", "RoentGen Table 4 (bottom)", order=60),
    Section("augmentation", "Downstream utility: augmentation", "RoentGen Table 5", order=70),
    Section("text", "Text-encoder knowledge (CheXpert@k)", "RoentGen Table 6; seeds/001 Table 2",
            "Scores in percent; k = 10 in roentgen2022.", order=80, subject="text encoders"),
    Section("reconstruction", "VAE reconstruction", "seeds/001 Table 1",
            "Real images encoded and decoded by a pipeline's VAE, compared with the originals.", order=90,
            subject="autoencoders"),
    Section("reader", "Reader study", "RoentGen §6.5",
            "Radiologists' blinded ratings: realism −2 (synthetic more realistic) … 2 (real much more realistic), "
            "lower is better; alignment −2 … 2, higher is better; mean ± std per reader and pooled.", order=95),
    Section("reader_agreement", "Reader study: the readers' agreement", "RoentGen §6.5",
            "How far the readers agree on the same items (weighted κ, Krippendorff's α): it describes the readers "
            "and the scale, and says how noisy the study's other numbers are.", order=96),
    Section("memorisation", "Memorisation", "cxrgen-bench (CheXGenBench reports one)",
            "Generated images closer to a training image than the threshold calibrated on real held-out images.",
            order=100),
    Section("demographics", "Demographic adherence", "RoentGen-v2's quality check",
            "Share of generated images whose predicted sex, age (within the tolerance) or race matches the prompt's; "
            "read beside the real images' (the predictors' ceiling).", order=25),
)}
UNCATALOGUED = Section("uncatalogued", "Metrics without a card", "results whose metric plug-in is not installed",
                       "No card is installed for these keys: direction unknown, so nothing is ranked.", order=10_000)


@dataclass(frozen=True)
class Card:
    """Everything the suite knows about a metric besides how to compute it."""

    name: str
    direction: str  # "lower" or "higher" is better
    value_range: tuple[float | None, float | None]
    label: str  # display label of the headline value (board column, demo table)
    summary: str  # one line: what it measures
    version: str = "1"
    requires: tuple[str, ...] = ()  # keys of REQUIREMENTS
    scale: str = "unit"  # number format on boards: see SCALES
    section: str | Section = "other"  # a SECTIONS slug, or a Section of a plug-in's own
    order: int = 100  # column order inside the section
    # Option keys "name[option]" (e.g. fid per backbone): short labels, in column order; an option not
    # listed still gets a column, labelled by the option itself, after the listed ones.
    options: tuple[tuple[str, str], ...] = ()
    option_format: str = "{label} {option}"  # an option column's label ("FID XRV"; "P@5" with "{option}")
    # Each option is a row of its own on the board (a study's training mixes, Table 5's rows), labelled
    # by the entry's details["row_label"], instead of a column.
    option_rows: bool = False
    per_class: tuple[str, ...] = ()  # ordered classes of a breakdown stored in details[per_class_field]
    per_class_field: str = "per_class"
    headline_label: str = ""  # label of the headline column beside a per-class breakdown
    plot: str = ""  # a leaderboard/plots.py figure drawn from this metric's details
    reported_only: bool = False  # known only from typed-in paper numbers: no implementation yet
    reported: str = ""  # values the papers report
    limitations: str = ""

    def __post_init__(self) -> None:
        where = f"metric card {self.name!r}"
        if not self.name or not isinstance(self.name, str):
            raise RegistryError(f"{where}: a card needs a name")
        if self.direction not in DIRECTIONS:
            raise RegistryError(f"{where}: direction must be one of {DIRECTIONS}, not {self.direction!r}")
        if len(tuple(self.value_range)) != 2:
            raise RegistryError(f"{where}: value_range must be (low, high), None for unbounded")
        lo, hi = self.value_range
        if lo is not None and hi is not None and lo >= hi:
            raise RegistryError(f"{where}: value_range {self.value_range} is empty")
        unknown = [r for r in self.requires if r not in REQUIREMENTS]
        if unknown:
            raise RegistryError(f"{where}: unknown requirement(s) {unknown}; known: {', '.join(REQUIREMENTS)}")
        if self.scale not in SCALES:
            raise RegistryError(f"{where}: scale must be one of {SCALES}, not {self.scale!r}")
        if not self.label or not self.summary:
            raise RegistryError(f"{where}: label and summary are required (what a board and `ls` show)")

    # --- what readers derive ------------------------------------------------------------------
    @property
    def board_section(self) -> Section:
        if isinstance(self.section, Section):
            return self.section
        return SECTIONS.get(self.section) or Section(self.section, self.section.replace("_", " ").capitalize())

    def option_label(self, option: str) -> str:
        return dict(self.options).get(option, option)

    def option_rank(self, option: str) -> tuple[int, str]:
        names = [o for o, _ in self.options]
        return (names.index(option), "") if option in names else (len(names), option)

    def column_label(self, key: str) -> str:
        """"FID XRV" for fid[xrv-densenet121]; the card's label for the plain key."""
        option = option_of(key)
        if option is None:
            return self.label
        return self.option_format.format(label=self.label, option=self.option_label(option)).strip()

    def is_better(self, a: float, b: float) -> bool:
        return a < b if self.direction == "lower" else a > b

    def in_range(self, value: float) -> bool:
        lo, hi = self.value_range
        return (lo is None or value >= lo) and (hi is None or value <= hi)

    def describe(self) -> dict[str, Any]:
        """The card as plain data (for `ls --json` and docs)."""
        return {"name": self.name, "version": self.version, "direction": self.direction,
                "range": list(self.value_range), "label": self.label, "summary": self.summary,
                "requires": list(self.requires), "section": self.board_section.slug, "scale": self.scale,
                "per_class": list(self.per_class), "reported_only": self.reported_only,
                "reported": self.reported, "limitations": self.limitations}


def base_of(key: str) -> str:
    """"fid" for "fid[xrv-densenet121]"."""
    return key.split("[", 1)[0]


def option_of(key: str) -> str | None:
    """"xrv-densenet121" for "fid[xrv-densenet121]"; None for a plain key."""
    _, sep, rest = key.partition("[")
    return rest[:-1] if sep and rest.endswith("]") else None
