"""The two rating scales of the RoentGen reader study (seeds/000 §6.5), as the readers see them and as
the analysis reads them.

Alignment is the paper's scale word for word. Realism: the paper rated blinded pairs "from −2 (synthetic
image is more realistic) to 2 (true image is much more realistic)". A reader who is not told which image
is real can only say which image looks more realistic, and how much, so the screen asks exactly that, on
five steps from "left much more realistic" to "right much more realistic"; with the answer key the
analysis turns each answer into the paper's scale: +2 when the image judged much more realistic is the
real one, −2 when it is the synthetic one, 0 for "equally realistic" (`toward_real`).
"""
from __future__ import annotations

TASKS = ("realism", "alignment")
VALUES = (-2, -1, 0, 1, 2)  # what is stored; the keys 1–5 choose them in this order

REALISM_QUESTION = "Which image looks more realistic?"
REALISM_LABELS = (
    (-2, "Left image much more realistic"),
    (-1, "Left image more realistic"),
    (0, "Equally realistic"),
    (1, "Right image more realistic"),
    (2, "Right image much more realistic"),
)
REALISM_NOTE = ("One image is a real radiograph, the other synthetic. Scored as in RoentGen §6.5: from −2 "
                "(the synthetic image is more realistic) to 2 (the true image is much more realistic).")
# The paper's wording (seeds/000 §6.5) for the scale of the analysis
REALISM_PAPER = {-2: "synthetic image is more realistic", 2: "true image is much more realistic"}

ALIGNMENT_QUESTION = "How well does the image match the report?"
ALIGNMENT_LABELS = (
    (-2, "The synthetic image does not correspond at all to the conditioning prompt"),
    (-1, "The image does not show all of the findings mentioned in the impression section"),
    (0, "The image shows the most salient finding of the prompt but not all aspects"),
    (1, "The image shows most of the aspects mentioned in the prompt"),
    (2, "The synthetic image aligns perfectly with the prompt"),
)


def toward_real(choice: int, real_on_right: bool) -> int:
    """A realism answer on the left–right screen scale → the paper's scale (+ toward the real image)."""
    return choice if real_on_right else -choice


def labels(task: str) -> tuple[tuple[int, str], ...]:
    return REALISM_LABELS if task == "realism" else ALIGNMENT_LABELS
