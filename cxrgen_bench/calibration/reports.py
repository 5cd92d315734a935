"""Impressions for phantoms, written from their findings with varied radiology phrasing, negations
and hedges, and the CheXpert-14 labels they imply; and the reverse: findings read back from a
prompt's text (via the rule-based labeller plus side, lobe and size words)."""
from __future__ import annotations

import re

import numpy as np

from ..data.labeller import label_report, sentences
from ..data.labels import CHEXPERT_14
from ..data.laterality import MENTION, SIDE_WORDS
from .phantom import DEVICES, Findings

DEVICE_TEXT = {"endotracheal tube": ("Endotracheal tube in standard position.", "ET tube terminates above the carina."),
               "central line": ("Right internal jugular central line ends in the SVC.", "Central venous catheter in place."),
               "pacemaker": ("Left chest wall pacemaker with leads in the right heart.", "Pacemaker leads are intact."),
               "nasogastric tube": ("Nasogastric tube courses into the stomach.", "Enteric tube below the diaphragm.")}


def write_report(f: Findings, rng: np.random.Generator) -> tuple[str, dict[str, float | None]]:
    labels: dict[str, float | None] = {c: None for c in CHEXPERT_14}
    parts: list[str] = []
    pick = lambda options: options[rng.integers(len(options))]  # noqa: E731
    if f.effusion:
        hedged = rng.random() < 0.15
        if len(f.effusion) == 2:
            text = pick([f"Bilateral {f.effusion_size} pleural effusions.", "Bilateral pleural effusions."])
        else:
            side = f.effusion[0]
            text = pick([f"{f.effusion_size.capitalize()} {side} pleural effusion.",
                         f"{side.capitalize()}-sided pleural effusion, {f.effusion_size}.",
                         f"There is a {f.effusion_size} {side} pleural effusion with blunting of the costophrenic angle."])
        if hedged:
            text = "Possible " + text[0].lower() + text[1:]
        parts.append(text)
        labels["Pleural Effusion"] = -1.0 if hedged else 1.0
    if f.cardiomegaly:
        parts.append(pick(["Cardiomegaly.", "The heart is enlarged.", "Moderate cardiomegaly."]))
        labels["Cardiomegaly"] = 1.0
    for side in f.pneumothorax:
        parts.append(pick([f"{side.capitalize()} pneumothorax.", f"Small {side} apical pneumothorax.",
                           f"There is a {side} pneumothorax."]))
        labels["Pneumothorax"] = 1.0
    for side, lobe in f.consolidation:
        parts.append(pick([f"Consolidation in the {side} {lobe} lobe.", f"{side.capitalize()} {lobe} lobe consolidation.",
                           f"Focal consolidation of the {side} {lobe} lobe."]))
        labels["Consolidation"] = labels["Lung Opacity"] = 1.0
    if f.edema:
        parts.append(pick(["Mild pulmonary edema.", "Perihilar haziness consistent with pulmonary edema.",
                           "Moderate interstitial edema."]))
        labels["Edema"] = 1.0
    for device in f.devices:
        parts.append(pick(DEVICE_TEXT[device]))
        labels["Support Devices"] = 1.0
    negatable = [("Pneumothorax", "No pneumothorax.", not f.pneumothorax),
                 ("Pleural Effusion", "No pleural effusion.", not f.effusion),
                 ("Cardiomegaly", "Heart size is normal.", not f.cardiomegaly),
                 ("Consolidation", "No focal consolidation.", not f.consolidation),
                 ("Edema", "No pulmonary edema.", not f.edema)]
    for name, text, absent in negatable:
        if absent and rng.random() < 0.35:
            parts.append(text)
            labels[name] = 0.0
    if f.normal and not f.devices:
        parts.insert(0, pick(["No acute cardiopulmonary process.", "Normal chest radiograph."]))
    if f.normal:
        labels["No Finding"] = 1.0
    return " ".join(parts), labels


_LOBE = re.compile(r"\b(upper|middle|lower)\b")
_SIZE = re.compile(r"\b(small|moderate|large|trace|tiny)\b")
DEVICE_WORDS = {"endotracheal tube": r"endotracheal|\bet tube", "central line": r"central (?:line|venous)|picc|catheter",
                "pacemaker": r"pacemaker|pacer", "nasogastric tube": r"nasogastric|enteric tube|\bng tube"}


def _sides(sentence: str, fallback: str) -> tuple[str, ...]:
    words = set(SIDE_WORDS.findall(sentence))
    if words & {"bilateral", "both"} or {"left", "right"} <= words:
        return ("left", "right")
    if words:
        return (words.pop(),)
    return (fallback,)


DEMOGRAPHICS = re.compile(r"\b(\d{1,3})[- ]year[- ]old\b(?:[^.]*?)\b(female|male|woman|man)\b", re.IGNORECASE)


def demographics_from_text(text: str) -> dict[str, object]:
    """RoentGen-v2's prompt prefix, "50 year old White female.": the age and sex it states ({} when none)."""
    m = DEMOGRAPHICS.search(text)
    if not m:
        return {}
    return {"age": int(m.group(1)), "sex": {"woman": "female", "man": "male"}.get(m.group(2).lower(), m.group(2).lower())}


def findings_from_text(text: str, rng: np.random.Generator) -> Findings:
    """What a faithful generator renders for a prompt: findings stated as present or possible, and the
    patient's age and sex when the prompt states them."""
    labels = label_report(text)
    present = lambda name: labels.get(name) in (1.0, -1.0)  # noqa: E731
    sents = sentences(text)
    fallback = ("left", "right")[rng.integers(2)]  # a side the prompt leaves open is drawn from the seed

    def about(kind: str) -> list[str]:
        return [s for s in sents if MENTION[kind].search(s) and not re.search(r"\bno\b|normal", s)]

    effusion, size = (), "moderate"
    if present("Pleural Effusion"):
        mentions = about("effusion") or [""]
        effusion = _sides(mentions[0], fallback)
        size_words = _SIZE.findall(mentions[0])
        size = {"trace": "small", "tiny": "small"}.get(size_words[0], size_words[0]) if size_words else "moderate"
    pneumothorax = _sides((about("pneumothorax") or [""])[0], fallback) if present("Pneumothorax") else ()
    consolidation: tuple[tuple[str, str], ...] = ()
    if present("Consolidation") or present("Pneumonia"):
        sentence = (about("consolidation") or [""])[0]
        lobe = (_LOBE.findall(sentence) or ["lower"])[0]
        consolidation = tuple((s, lobe) for s in _sides(sentence, fallback))
    devices = tuple(d for d, pattern in DEVICE_WORDS.items() if re.search(pattern, text.lower()))
    return Findings(effusion=effusion, effusion_size=size, cardiomegaly=present("Cardiomegaly"),
                    pneumothorax=pneumothorax, consolidation=consolidation, edema=present("Edema"),
                    devices=devices if labels.get("Support Devices") != 0.0 else (),
                    **demographics_from_text(text))


__all__ = ["DEVICES", "demographics_from_text", "findings_from_text", "write_report"]
