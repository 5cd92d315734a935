"""Where a report places its lateralised findings: the side words of the sentence that mentions each
one. The laterality metric reads prompts with it; the phantom renderer reads the same words."""
from __future__ import annotations

import re

from .labeller import label_report, sentences

SIDE_WORDS = re.compile(r"\b(left|right|bilateral|both)\b")
# How a sentence mentions each lateralised finding (a CheXpert name's words, as reports write them)
MENTION = {"effusion": re.compile(r"effusion|costophrenic"), "pneumothorax": re.compile(r"pneumothora"),
           "consolidation": re.compile(r"consolidat|opacit|pneumonia")}
LATERALISED = (("Pleural Effusion", "effusion"), ("Pneumothorax", "pneumothorax"), ("Consolidation", "consolidation"))


def stated_sides(text: str) -> dict[str, str]:
    """Lateralised findings the prompt places on exactly one side: CheXpert name → "left"/"right"."""
    labels = label_report(text)
    out = {}
    for name, kind in LATERALISED:
        if labels.get(name) not in (1.0, -1.0):
            continue
        mentions = [s for s in sentences(text) if MENTION[kind].search(s) and not re.search(r"\bno\b", s)]
        words = set(SIDE_WORDS.findall(mentions[0])) if mentions else set()
        if len(words) == 1 and words <= {"left", "right"}:
            out[name] = words.pop()
    return out
