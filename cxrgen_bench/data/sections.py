"""Sections of free-text radiology reports (MIMIC-CXR style), robust to the formats found there.

Headers are upper-case words followed by a colon at the start of a line ("IMPRESSION:",
"FINDINGS AND IMPRESSION:", "CONCLUSION:"). When a report has no IMPRESSION header the fallback
is explicit (`impression_or_fallback`): the FINDINGS section, else the last paragraph.
"""
from __future__ import annotations

import re

_HEADER = re.compile(r"^[ \t]*([A-Z][A-Z /&()-]{1,60}?)[ \t]*:", re.MULTILINE)
IMPRESSION_HEADERS = ("IMPRESSION", "IMPRESSIONS", "CONCLUSION", "CONCLUSIONS", "SUMMARY",
                      "FINDINGS AND IMPRESSION", "FINDINGS/IMPRESSION", "IMPRESSION AND RECOMMENDATION")
FINDINGS_HEADERS = ("FINDINGS", "FINDING", "FINDINGS AND IMPRESSION", "FINDINGS/IMPRESSION")
DEID = re.compile(r"_{2,}|X{4,}|\[\*\*[^\]]*\*\*\]")  # MIMIC "___", OpenI "XXXX", older "[** **]"


def clean_text(text: str) -> str:
    """One line, single spaces, de-identification placeholders removed."""
    text = re.sub(r"\bx-XXXX\b", "x-ray", text)  # OpenI masks "ray" in "x-ray" as a date-like token
    text = DEID.sub(" ", text)
    text = re.sub(r"[ \t]*\n[ \t]*", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s+([.,;:])", r"\1", text)


def split_sections(report: str) -> dict[str, str]:
    """Header (upper case, without colon) → raw section text. Text before the first header is under ""."""
    sections: dict[str, str] = {}
    matches = list(_HEADER.finditer(report))
    start_text = report[: matches[0].start()] if matches else report
    if start_text.strip():
        sections[""] = start_text
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(report)
        name = re.sub(r"\s+", " ", m.group(1).strip())
        body = report[m.end():end]
        sections[name] = (sections.get(name, "") + "\n" + body) if name in sections else body
    return sections


def _first_section(report: str, headers: tuple[str, ...]) -> str:
    sections = split_sections(report)
    for header in headers:
        text = clean_text(sections.get(header, ""))
        if text:
            return text
    return ""


def impression(report: str) -> str:
    """The IMPRESSION section (or a synonym), cleaned; "" when the report has none."""
    return _first_section(report, IMPRESSION_HEADERS)


def findings(report: str) -> str:
    """The FINDINGS section, cleaned; "" when the report has none."""
    return _first_section(report, FINDINGS_HEADERS)


def impression_or_fallback(report: str) -> tuple[str, str]:
    """(text, source): the impression; else the findings; else the report's last paragraph."""
    text = impression(report)
    if text:
        return text, "impression"
    text = findings(report)
    if text:
        return text, "findings"
    paragraphs = [p for p in re.split(r"\n\s*\n", report) if clean_text(p)]
    if paragraphs and not _HEADER.match(paragraphs[-1]):
        return clean_text(paragraphs[-1]), "last paragraph"
    return "", "none"


SECTION_CHOICES = {
    "impression": lambda r: (impression(r), "impression"),
    "findings": lambda r: (findings(r), "findings"),
    "impression-or-fallback": impression_or_fallback,
}
