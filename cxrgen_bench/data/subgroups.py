"""The groups of patients a prompt belongs to, read from the prompts CSV's own columns (`--by sex,age_band`).

Attributes:
- ``sex``: a `sex` (or `gender`, `PatientSex`) column; F/female/W → female, M/male → male, anything else or
  blank → unknown (counted, never guessed);
- ``age_band``: an `age` column in years cut at the profile's `subgroups.age_bands` edges ("<40", "40–59",
  "60–79", "80+" for edges 40, 60, 80);
- ``race``: a `race` column mapped to the profile's groups (`subgroups.race_groups`: the raw value's
  leading words → group, MIMIC-IV's "WHITE - OTHER EUROPEAN" → White); unmapped or blank → unknown;
- ``finding``: every CheXpert class the prompt is positive for (1), and "No Finding": a prompt with two
  findings is in two groups (CheXGenBench's per-pathology view);
- any other column of the CSV (``view``, a site, a scanner): its values as written.
The mapping used is recorded with the results.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..errors import InputError
from ..functional.floors import FLOOR_SETTINGS
from ..functional.subgroups import age_band
from .labels import CHEXPERT_14
from .manifest import PromptSet

UNKNOWN = "unknown"
DEFAULTS: dict[str, Any] = {
    "min_size": 10,  # groups with fewer prompts are reported as too small, not ranked
    "age_bands": [40, 60, 80],
    # the leading words of a raw race value (upper-cased) → its group; MIMIC-IV admissions' spellings
    "race_groups": {"WHITE": "White", "BLACK": "Black", "AFRICAN AMERICAN": "Black", "ASIAN": "Asian",
                    "HISPANIC": "Hispanic/Latino", "LATINO": "Hispanic/Latino", "SOUTH AMERICAN": "Hispanic/Latino",
                    "AMERICAN INDIAN": "Other", "NATIVE HAWAIIAN": "Other", "MULTIPLE RACE": "Other",
                    "PORTUGUESE": "White", "OTHER": "Other"},
    "matched_sizes": True,  # set-level metrics on a seeded sample of the same size in every group
    # set-level metrics: each group's floor (two disjoint real sets of it, scoring/floors.py); the gap and the
    # worst group then read the excess over it
    **FLOOR_SETTINGS,
}
SEX_COLUMNS = ("sex", "gender", "PatientSex", "PatientSex_DICOM")
SEXES = {"f": "female", "female": "female", "w": "female", "woman": "female",
         "m": "male", "male": "male", "man": "male"}


def demographic_prompt(impression: str, age: float | None = None, sex: str | None = None,
                       race: str | None = None) -> str:
    """RoentGen-v2's prompt form, "{age} year old {race} {sex}. {impression}"; what is unknown is left out."""
    parts = [f"{int(round(age))} year old" if age is not None else None, race if race and race != UNKNOWN else None,
             sex if sex and sex != UNKNOWN else None]
    who = " ".join(p for p in parts if p)
    if not who:
        return impression
    return f"{who[0].upper()}{who[1:]}. {impression}" if age is None else f"{who}. {impression}"


def settings(profile_block: Mapping[str, Any] | None) -> dict[str, Any]:
    return {**DEFAULTS, **dict(profile_block or {})}


def race_group(raw: str, mapping: Mapping[str, str]) -> str:
    text = " ".join(raw.upper().replace("/", " ").split())
    if not text or text in ("UNKNOWN", "UNABLE TO OBTAIN", "PATIENT DECLINED TO ANSWER", "DECLINED"):
        return UNKNOWN
    for prefix in sorted(mapping, key=len, reverse=True):  # the most specific spelling first
        if text.startswith(prefix.upper()):
            return mapping[prefix]
    return UNKNOWN


def _column(prompts: PromptSet, names: tuple[str, ...], attribute: str) -> str:
    for name in names:
        if name in prompts.attribute_names:
            return name
    raise InputError(f"--by {attribute}: {prompts.path} has no {' / '.join(names)} column; its columns are "
                     f"{', '.join(('prompt_id', 'text', *prompts.label_names, *prompts.attribute_names))}")


def groups_of(prompts: PromptSet, attribute: str, config: Mapping[str, Any]) -> dict[str, list[str]]:
    """prompt id → the groups of ``attribute`` it belongs to (one, or several for ``finding``)."""
    out: dict[str, list[str]] = {}
    if attribute == "finding":
        if not prompts.label_names:
            raise InputError(f"--by finding: {prompts.path} has no CheXpert label columns")
        for pid, p in prompts.prompts.items():
            found = [c for c in CHEXPERT_14 if p.labels.get(c) == 1.0]
            out[pid] = found or [UNKNOWN]
        return out
    if attribute == "sex":
        column = _column(prompts, SEX_COLUMNS, attribute)
        return {pid: [SEXES.get(p.attributes.get(column, "").strip().lower(), UNKNOWN)]
                for pid, p in prompts.prompts.items()}
    if attribute in ("age_band", "age"):
        column = _column(prompts, ("age", "anchor_age", "age_years"), attribute)
        edges = config.get("age_bands") or DEFAULTS["age_bands"]
        return {pid: [age_band(_number(p.attributes.get(column, "")), edges)] for pid, p in prompts.prompts.items()}
    if attribute == "race":
        column = _column(prompts, ("race", "ethnicity"), attribute)
        mapping = config.get("race_groups") or DEFAULTS["race_groups"]
        return {pid: [race_group(p.attributes.get(column, ""), mapping)] for pid, p in prompts.prompts.items()}
    column = _column(prompts, (attribute,), attribute)
    return {pid: [p.attributes.get(column, "").strip() or UNKNOWN] for pid, p in prompts.prompts.items()}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def members(groups: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """group → its prompt ids (sorted), from `groups_of`."""
    out: dict[str, list[str]] = {}
    for pid, names in sorted(groups.items()):
        for g in names:
            out.setdefault(g, []).append(pid)
    return dict(sorted(out.items()))
