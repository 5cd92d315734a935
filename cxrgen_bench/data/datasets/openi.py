"""OpenI / Indiana University chest X-ray reports, offline: the 3,955 reports that torchxrayvision
ships (`data/NLMCXR_reports.tgz`) and the view metadata beside them (`nlmcxr_dicom_metadata.csv.gz`).

Each report becomes one prompt: the IMPRESSION (or the configured section) with the "XXXX"
de-identification tokens removed; labels come from our rule-based labeller (OpenI has no CheXpert
labels); MeSH major terms and image ids are kept in extra columns. No images are distributed here.
Licence (stated in every XML): CC BY-NC-ND 4.0.
"""
from __future__ import annotations

import importlib.util
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterator

from ...errors import InputError
from ..labeller import label_report
from ..sections import clean_text
from .base import Dataset, PromptTable, Skips, cap_and_sample, open_table, text_filter

LICENCE = "CC BY-NC-ND 4.0 (http://creativecommons.org/licenses/by-nc-nd/4.0/), Indiana University via NLM OpenI"
VIEW_ORDER = ("PA", "AP", "LATERAL", "LL", "RL")


def torchxrayvision_data() -> Path:
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the OpenI reports ship inside torchxrayvision: pip install torchxrayvision")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def parse_report(xml_bytes: bytes, where: str) -> dict[str, Any]:
    try:
        root = ET.fromstring(xml_bytes)
    except ET.ParseError as exc:
        raise InputError(f"{where}: not valid XML: {exc}") from exc
    uid = root.find("uId")
    sections = {a.get("Label", "").upper(): (a.text or "") for a in root.iter("AbstractText")}
    return {
        "uid": uid.get("id") if uid is not None else "",
        "findings": clean_text(sections.get("FINDINGS", "")),
        "impression": clean_text(sections.get("IMPRESSION", "")),
        "indication": clean_text(sections.get("INDICATION", "")),
        "mesh_major": [m.text.strip() for m in root.iter("major") if m.text and m.text.strip()],
        "image_ids": [p.get("id") for p in root.iter("parentImage") if p.get("id")],
        "licence_url": (root.findtext("licenseURL") or "").strip(),
    }


class OpenI(Dataset):
    name = "openi"
    has_images = False
    licence = LICENCE

    def reports(self) -> Iterator[dict[str, Any]]:
        source = self.root or torchxrayvision_data() / "NLMCXR_reports.tgz"
        if source.is_dir():
            for path in sorted(source.rglob("*.xml"), key=lambda p: (len(p.stem), p.stem)):
                yield parse_report(path.read_bytes(), str(path))
            return
        if not source.is_file():
            raise InputError(f"{source}: OpenI reports not found (a .tgz or a folder of XML files)")
        with tarfile.open(source, "r:gz") as tar:
            members = sorted((m for m in tar.getmembers() if m.name.endswith(".xml")),
                             key=lambda m: (len(Path(m.name).stem), Path(m.name).stem))
            for m in members:
                yield parse_report(tar.extractfile(m).read(), f"{source}:{m.name}")

    def views(self) -> dict[str, str]:
        path = torchxrayvision_data() / "nlmcxr_dicom_metadata.csv.gz"
        if not path.is_file():
            return {}
        header, rows = open_table(path)
        missing = [c for c in ("imageid", "View Position") if c not in header]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(header)}")
        return {row["imageid"]: (row["View Position"] or "").strip() for row in rows}

    def prompts(self, section: str = "impression", views: tuple[str, ...] | None = None, min_chars: int | None = None,
                max_tokens: int | None = None, no_finding_cap: int | None = None, limit: int | None = None,
                seed: int = 0, **_: Any) -> PromptTable:
        if section not in ("impression", "findings", "impression-or-fallback"):
            raise InputError(f"openi: unknown section {section!r}")
        view_of = self.views()
        skips = Skips(strict=self.strict)
        rows, n = [], 0
        for report in self.reports():
            n += 1
            where = f"OpenI report {report['uid']}"
            text = report["impression"] if section != "findings" else report["findings"]
            if not text and section == "impression-or-fallback":
                text = report["findings"]
            if not text:
                skips.skip(f"no {section} text", where)
                continue
            image_views = sorted({view_of.get(i, "") for i in report["image_ids"]} - {""},
                                 key=lambda v: VIEW_ORDER.index(v) if v in VIEW_ORDER else 99)
            if views and not set(image_views) & set(views):
                skips.skip(f"no image with view in {','.join(views)}", where)
                continue
            dropped = text_filter(text, min_chars, max_tokens)
            if dropped:
                skips.skip(dropped, where)
                continue
            rows.append({"prompt_id": f"openi-{report['uid']}", "text": text, **label_report(text),
                         "view": image_views[0] if image_views else "", "image_path": "",
                         "mesh_major": ";".join(report["mesh_major"]), "image_ids": ";".join(report["image_ids"]),
                         "findings": report["findings"]})
        rows = cap_and_sample(rows, skips, no_finding_cap, limit, seed)
        description = {"dataset": self.name, "licence": self.licence, "has_images": False, "section": section,
                       "filters": {"min_chars": min_chars, "max_clip_tokens": max_tokens,
                                   "no_finding_cap": no_finding_cap, "limit": limit, "seed": seed},
                       "labels": "rule-based labeller (cxrgen_bench.data.labeller) on the prompt text",
                       "views": list(views) if views else "all", "reports_read": n, "prompts": len(rows),
                       "skipped": skips.as_dict()}
        return PromptTable(rows, description, extra_columns=("mesh_major", "image_ids", "findings"))
