"""A rule-based CheXpert-style labeller for free text (prompts without labels, OpenI reports).

For each of the 14 CheXpert observations it finds mentions, decides per mention whether it is
positive (1), negated (0) or uncertain (−1) from cue words in the same clause, and aggregates a
report as CheXpert does: any positive mention → 1; else any uncertain → −1; else any negated → 0;
no mention → None. "No Finding" is 1 when no pathology (support devices excepted) is positive or
uncertain. Measured against hand-checked sentences (tests/data/labeller_cases.tsv) and OpenI MeSH
terms (docs/labeller.md).
"""
from __future__ import annotations

import re
from functools import lru_cache

from .labels import CHEXPERT_14

_W = r"[a-z-]*"  # word continuation: "atelecta" + "sis"/"tic"/"ses"

MENTIONS: dict[str, tuple[str, ...]] = {
    "Atelectasis": (rf"\batelecta{_W}", r"\b(?:lobar |lung |segmental )?collapse[ds]?\b(?! of the vertebra)"),
    "Cardiomegaly": (r"\bcardiomegaly\b", r"\benlarge(?:d|ment of the) (?:heart|cardiac silhouette)\b",
                     r"\b(?:heart|cardiac silhouette|heart size|cardiac size) (?:is |are |appears |remains )?"
                     r"(?:mildly |moderately |markedly |severely |slightly |again |top[- ]normal to )?enlarged\b",
                     r"\bcardiac enlargement\b", r"\bheart size (?:is )?(?:mildly |moderately |markedly )?increased\b"),
    "Consolidation": (rf"\bconsolidat{_W}",),
    "Edema": (r"\bedema\b", r"\b(?:pulmonary |vascular |pulmonary vascular )congestion\b", r"\bchf\b",
              r"\bheart failure\b", r"\bfluid overload\b", r"\bvascular engorgement\b"),
    "Enlarged Cardiomediastinum": (r"\b(?:widen(?:ed|ing)|enlarged?) (?:of the )?(?:cardio)?mediastin{_W}".replace("{_W}", _W),
                                   r"\b(?:cardio)?mediastinal (?:silhouette |contours? )?(?:is |are )?(?:widen(?:ed|ing)|enlarge(?:d|ment))\b"),
    "Fracture": (rf"\bfractur{_W}",),
    "Lung Lesion": (rf"\bnodul{_W}", r"\bmass(?:es)?\b", r"\blesions?\b", r"\btumou?rs?\b", r"\bneoplasm\w*",
                    r"\bcarcinoma\b", r"\bmalignan\w*", r"\bmetasta\w*"),
    "Lung Opacity": (rf"\bopacit{_W}", rf"\bopacif{_W}", rf"\binfiltrat{_W}", r"\bair ?-?space (?:disease|opacit\w*)",
                     r"\bhaz(?:e|iness|y opacit\w*)\b", r"\bground[- ]glass\b"),
    "Pleural Effusion": (r"(?<!pericardial )\beffusions?\b", r"\bpleural fluid\b", r"\bhydrothora\w*",
                         r"\bblunt(?:ing|ed)? (?:of )?(?:the )?(?:left |right |bilateral )?costophrenic",
                         r"\bcostophrenic (?:angles? )?(?:is |are )?blunt\w*"),
    "Pleural Other": (r"\bpleural thickening\b", r"\bfibrothorax\b", r"\bpleural (?:plaques?|scar\w*|calcifications?)\b",
                      r"\bpleural-parenchymal scar\w*"),
    "Pneumonia": (r"\bpneumoni[a-z]*\b", r"\binfect\w*", r"\bbronchopneumonia\b"),
    "Pneumothorax": (r"\bpneumothora\w*", r"\bptx\b"),
    "Support Devices": (r"\bpicc\b", r"\bcentral (?:venous )?(?:line|catheter)s?\b", r"\bcatheters?\b", r"\bpacemakers?\b",
                        r"\bpacers?\b", r"\bdefibrillators?\b", r"\bicd\b", r"\bendotracheal\b", r"\b(?:et|ng|og|enteric|"
                        r"feeding|chest|nasogastric|orogastric|tracheostomy|dobhoff) tubes?\b", r"\btracheostomy\b",
                        r"\bsternotomy wires?\b", r"\bsternal wires?\b", r"\bsurgical clips?\b", r"\bstents?\b",
                        r"\bdrains?\b", r"\bleads?\b", r"\blvad\b", r"\bswan[- ]ganz\b", r"\bport-?a-?cath\b",
                        r"\bsupport devices?\b", r"\bmonitoring devices?\b", r"\bprosthe\w+", r"\bhardware\b"),
}

# Phrases that state an observation is absent without a negation word ("heart size is normal").
NORMAL: dict[str, tuple[str, ...]] = {
    "Cardiomegaly": (r"\b(?:heart|cardiac) size (?:is |remains )?(?:normal|within normal limits|upper limits of normal)",
                     r"\bnormal (?:heart|cardiac) size\b", r"\b(?:heart|cardiac silhouette) (?:is )?(?:not enlarged|"
                     r"normal in size|within normal limits)", r"\bnormal-sized heart\b"),
    "Enlarged Cardiomediastinum": (r"\b(?:cardio)?mediastinal (?:silhouette|contours?|structures) (?:is |are )?"
                                   r"(?:normal|within normal limits|unremarkable)",
                                   r"\bnormal (?:cardio)?mediastinal (?:silhouette|contours?)",
                                   r"\bmediastinum (?:is )?(?:normal|unremarkable|not widened)"),
}

NEG_PRE = re.compile(r"\b(?:no|not|without|negative for|free of|clear of|absence of|absent|resolved|resolution of|"
                     r"rule out|ruled out|r/o|neither|nor|removal of|removed|interval removal)\b")
NEG_POST = re.compile(r"^[^.]*?\b(?:(?:is|are|has|have)(?: been)? (?:not (?:seen|identified|present|visualized|appreciated)|"
                      r"absent|resolved|removed|cleared)|(?:has|have) resolved|no longer (?:seen|present|visualized|evident)|"
                      r"resolved|removed)\b")
UNC_PRE = re.compile(r"\b(?:may|might|could|possible|possibly|probable|probably|likely|questionable|question of|"
                     r"suspicious for|suspected|suspect|suggestive of|suggests?|suggesting|concerning for|concern for|"
                     r"cannot be (?:excluded|ruled out)|can not be (?:excluded|ruled out)|versus|vs|differential|"
                     r"(?:difficult|hard) to exclude|cannot exclude|can not exclude|not exclude|"
                     r"or|borderline|equivocal|indeterminate|presumed)\b")
UNC_POST = re.compile(r"^[^.]*?\b(?:cannot be (?:excluded|ruled out)|can not be (?:excluded|ruled out)|(?:is |are )?not "
                      r"(?:be )?excluded|(?:is|are) (?:possible|likely|suspected|questioned|not entirely excluded)|"
                      r"may be present|could be present|may be (?:due to|related to|secondary to|accentuated by) "
                      r"(?:the )?(?:patient )?(?:positioning|technique|projection|rotation|low lung volumes))\b")
# "atelectasis or pneumonia", "atelectasis versus consolidation": only the alternatives themselves are
# uncertain, so this cue must follow the mention directly (an opacity that "may reflect X or Y" is certain).
UNC_ALTERNATIVE = re.compile(r"^\s*,?\s*(?:or|versus|vs\.?)\s")
# A negation or uncertainty cue reaches over lists ("no effusion, consolidation or pneumothorax") but
# not across these clause boundaries.
BOUNDARY = re.compile(r"\b(?:but|however|although|though|except|apart from|aside from|which|whereas|while|"
                      r"with the exception of|there is|there are|otherwise)\b|[;:]")
PATHOLOGIES = tuple(c for c in CHEXPERT_14 if c not in ("No Finding", "Support Devices"))


@lru_cache(maxsize=1)
def _compiled() -> tuple[dict[str, list[re.Pattern]], dict[str, list[re.Pattern]]]:
    return ({c: [re.compile(p) for p in ps] for c, ps in MENTIONS.items()},
            {c: [re.compile(p) for p in ps] for c, ps in NORMAL.items()})


def sentences(text: str) -> list[str]:
    text = re.sub(r"\s+", " ", text.lower())
    return [s.strip() for s in re.split(r"(?<=[.?!])\s+|\n+|(?<=\d\.)\s|\s(?=\d\. )", text) if s.strip()]


def _clause(sentence: str, start: int, end: int) -> tuple[str, str]:
    """The text of the mention's clause before and after it."""
    left = sentence[:start]
    cut = [m.end() for m in BOUNDARY.finditer(left)]
    pre = left[cut[-1]:] if cut else left
    right = sentence[end:]
    stop = BOUNDARY.search(right)
    post = right[: stop.start()] if stop else right
    return pre, post


STRONG_HEDGE = re.compile(r"\b(?:cannot be (?:excluded|ruled out)|can not be (?:excluded|ruled out)|not (?:be )?excluded|"
                          r"(?:difficult|hard) to exclude|cannot exclude|can not exclude)\b")


def mention_status(sentence: str, start: int, end: int) -> float:
    pre, post = _clause(sentence, start, end)
    if NEG_PRE.search(pre):
        # a negation governs the whole list after it ("no suspicious opacity, effusion or pneumothorax");
        # only an explicit "cannot be excluded" turns it into doubt
        return -1.0 if STRONG_HEDGE.search(pre + post) else 0.0
    if UNC_POST.search(post) or UNC_ALTERNATIVE.search(post) or UNC_PRE.search(pre):
        return -1.0
    if NEG_POST.search(post):
        return 0.0
    return 1.0


def label_report(text: str) -> dict[str, float | None]:
    """CheXpert-14 name → 1, 0, −1 or None for one report (or prompt)."""
    mentions, normals = _compiled()
    found: dict[str, list[float]] = {c: [] for c in CHEXPERT_14}
    for sent in sentences(text):
        taken: list[tuple[int, int]] = []
        for cls, patterns in normals.items():
            for pat in patterns:
                for m in pat.finditer(sent):
                    found[cls].append(0.0)
                    taken.append(m.span())
        for cls, patterns in mentions.items():
            for pat in patterns:
                for m in pat.finditer(sent):
                    if any(a <= m.start() < b for a, b in taken):
                        continue  # part of a "normal size" phrase already read as a negative
                    found[cls].append(mention_status(sent, m.start(), m.end()))
    labels: dict[str, float | None] = {}
    for cls in CHEXPERT_14:
        values = found[cls]
        labels[cls] = 1.0 if 1.0 in values else -1.0 if -1.0 in values else 0.0 if values else None
    labels["No Finding"] = None if any(labels[c] in (1.0, -1.0) for c in PATHOLOGIES) else 1.0
    return labels
