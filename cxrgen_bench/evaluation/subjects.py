"""What an evaluation is *of*: the subject.

- `ImageSetSubject`: a folder of generated images, with the reference images and prompts it is
  compared against (FID, MS-SSIM, classifier AUROC, laterality, report generation, retrieval).
- `TextEncoderSubject`: a text encoder and a report set, no images at all (CheXpert@k).
- Studies (long, resumable, training-based evaluations) describe themselves as subjects of kind
  "study" (see `cxrgen_bench.studies`).

A subject says which requirements of the metric cards it meets (`provides`), and describes itself
for the results file: kind, a content sha256 that identifies it (image bytes, or weights), and what
a reader needs to know (paths, counts, layout, extraction methods).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..cache import key_of
from ..data.manifest import SHOWN, ImageRecord, ImageSet, PromptSet, listing
from ..errors import InputError
from ..card import CHECKED_BY_METRIC, REQUIREMENTS


class Subject:
    kind: ClassVar[str]

    def provides(self) -> set[str]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError

    def inputs(self) -> dict[str, Any]:
        """Results fields besides the subject: the data it is evaluated against."""
        return {}

    def default_name(self) -> str:
        raise NotImplementedError

    def model(self) -> dict[str, Any]:
        """The results file's `model` block (what produced the subject), besides its name."""
        return {}

    def n_units(self) -> int:
        """How many resampling units (prompts, reports) the subject has: `n.requested` of a failed metric."""
        return 0

    def models(self) -> dict[str, Any]:
        """Models that are part of the subject itself (a text encoder under evaluation), by role."""
        return {}

    # requirements a metric checks itself that the subject can also tell before any work (`checked_here`)
    checkable: ClassVar[frozenset[str]] = frozenset()

    def missing_for(self, metric: str, requires: tuple[str, ...], checked_here: bool = False) -> str | None:
        """A sentence saying what this subject lacks for a metric, or None when it has everything. A metric
        asked for by name checks some requirements itself (with its own, fuller message); ``checked_here``
        tells those the subject can (a default metric is skipped on them instead)."""
        left_to_metric = CHECKED_BY_METRIC - (self.checkable if checked_here else frozenset())
        missing = [r for r in requires if r not in left_to_metric and r not in self.provides()]
        if not missing:
            return None
        needs = "; ".join(self.requirement_text(r) for r in missing)
        return f"metric {metric} needs {needs}; this run evaluates {self.summary()}"

    def summary(self) -> str:
        return self.kind

    def requirement_text(self, requirement: str) -> str:
        """What provides a requirement, as this kind of run is given its inputs."""
        return REQUIREMENTS[requirement]


@dataclass
class ImageSetSubject(Subject):
    """Generated images with their prompts: both must hold the same prompt ids (an image without its
    prompt, or a prompt without images, is an error naming them), unless ``subset`` asks to score only
    the prompts both hold — then `subset_record` (in the results' subject) says what was dropped."""

    images: ImageSet
    reference: ImageSet | None = None
    prompts: PromptSet | None = None
    report_generator: Any = None  # a models.report.ReportGenerator that reads the images (rrg)
    subset: bool = False
    subset_record: dict[str, Any] | None = field(default=None, init=False)
    kind: ClassVar[str] = "image-set"

    reference_prompts: PromptSet | None = None  # the reference images' own prompts (retrieval candidates)
    checkable: ClassVar[frozenset[str]] = frozenset({"samples>=2"})

    def __post_init__(self) -> None:
        if self.reference_prompts is not None:
            if self.prompts is None or self.reference is None:
                raise InputError("--reference-prompts (reference_prompts=) labels the reference images: give it "
                                 "with --reference and --prompts")
            lacking = sorted(set(self.reference.prompt_ids) - set(self.reference_prompts.prompts)
                             - set(self.prompts.prompts))
            if lacking:
                raise InputError(f"{len(lacking)} reference image id(s) have no prompt in {self.reference_prompts.path} "
                                 f"nor in {self.prompts.path}: {listing(lacking)}")
        if self.prompts is not None:
            self.images, self.prompts, self.subset_record = match_prompts(self.images, self.prompts, self.subset)
            if self.reference_prompts is not None:
                self.prompts = self.prompts.with_reference(self.reference_prompts)
        elif self.subset:
            raise InputError("--subset (subset=True) scores the prompts that both the images and --prompts hold; "
                             "give --prompts, or drop --subset")

    def provides(self) -> set[str]:
        out = {"images"}
        if self.report_generator is not None:
            out.add("report_generator")
            if self.prompts is not None:
                out.add("report_pairs")
        if self.reference is not None:
            out.add("reference")
        if self.prompts is not None or self.images.prompts:
            out.add("prompts")
        if self.prompts is not None and self.prompts.label_names:
            out.add("labels")
        if any(len(samples) > 1 for samples in self.images.by_prompt().values()):
            out.add("samples>=2")
        return out

    def summary(self) -> str:
        extras = [w for w, x in (("reference images", self.reference), ("prompts", self.prompts)) if x is not None]
        return f"the image folder {self.images.root}" + (f" with {' and '.join(extras)}" if extras else "")

    def describe(self) -> dict[str, Any]:
        out = {"kind": self.kind, **self.images.describe()}
        if self.subset_record is not None:
            out["subset"] = self.subset_record
        return out

    def inputs(self) -> dict[str, Any]:
        return {"reference_set": self.reference.describe() if self.reference else None,
                "prompt_set": self.prompts.describe() if self.prompts else None}

    def default_name(self) -> str:
        return self.images.root.name

    def model(self) -> dict[str, Any]:
        return {"generator": generator_provenance(self.images)}

    def n_units(self) -> int:
        return len(self.images.prompt_ids)

    def models(self) -> dict[str, Any]:
        return {"report_generator": self.report_generator} if self.report_generator is not None else {}

    # --- helpers for image metrics -------------------------------------------------------------
    def prompt_text(self, prompt_id: str) -> str | None:
        if self.prompts and prompt_id in self.prompts.prompts:
            return self.prompts.prompts[prompt_id].text
        return self.images.prompts.get(prompt_id)

    def require_prompts(self, metric: str, records: list[ImageRecord], what: str) -> PromptSet:
        if self.prompts is None:
            raise InputError(f"{metric} needs --prompts (a CSV with prompt_id, text and CheXpert label columns)")
        missing = [r for r in records if r.prompt_id not in self.prompts.prompts]
        if missing:
            raise InputError(f"{metric}: {len(missing)} {what} image(s) have prompt ids not in {self.prompts.path}, "
                             f"e.g. {[r.prompt_id for r in missing[:3]]} (from {missing[0].path})")
        return self.prompts


def match_prompts(images: ImageSet, prompts: PromptSet,
                  subset: bool = False) -> tuple[ImageSet, PromptSet, dict[str, Any] | None]:
    """The images and prompts to score, and the record of a subset (None when nothing was asked). Every
    prompt needs generated images: a prompt the generator failed on is named, never silently left out
    (prompts of reference images that have no generated counterpart go in `reference_prompts`)."""
    have, want = set(images.prompt_ids), set(prompts.prompts)
    extra, lacking = sorted(have - want), sorted(want - have)
    if (extra or lacking) and not subset:
        parts = []
        if extra:
            parts.append(f"{len(extra)} prompt id(s) of images are not in the prompts CSV: {listing(extra)}")
        if lacking:
            parts.append(f"{len(lacking)} prompt(s) have no generated image: {listing(lacking)} (if these label "
                         "reference images, e.g. retrieval candidates, give them with --reference-prompts)")
        stripped = {pid.strip(): pid for pid in want}
        near = [f"{pid!r} is {stripped[pid.strip()]!r} with spaces" for pid in extra if pid.strip() in stripped]
        raise InputError(f"{images.root} and {prompts.path} do not hold the same prompt ids: " + "; ".join(parts)
                         + (f" ({'; '.join(near[:SHOWN])}: ids are matched exactly)" if near else "")
                         + ". Fix the names or the CSV, or score only the prompts both hold with --subset "
                           "(subset=True; the results record what was left out)")
    if not subset:
        return images, prompts, None
    kept = have & want
    if not kept:
        raise InputError(f"--subset: no prompt id is both in {images.root} and in {prompts.path}; "
                         f"images have e.g. {listing(extra, 3)}, the prompts e.g. {listing(lacking, 3)}")
    record = {"requested": {"images": len(images.records), "image_prompt_ids": len(have), "prompts": len(want)},
              "dropped": {"images_not_in_prompts": sum(r.prompt_id not in want for r in images.records),
                          "image_prompt_ids_not_in_prompts": extra, "prompts_without_images": lacking}}
    if extra:
        images = images.restrict(kept)
    if lacking:
        prompts = prompts.restrict(kept)
    record["effective"] = {"images": len(images.records), "prompts": len(kept)}
    return images, prompts, record


@dataclass
class TextEncoderSubject(Subject):
    """A text encoder evaluated on a report set (a prompts-format CSV: prompt_id, text, labels)."""

    encoder: Any  # a models.text.TextEncoder
    reports: PromptSet
    extractions: tuple[str, ...] = ()
    run: str | None = None  # for a trainer checkpoint: the run's checkpoints folder and the step
    step: int | None = None
    kind: ClassVar[str] = "text-encoder"

    def provides(self) -> set[str]:
        out = {"text_encoder", "reports"}
        if self.reports.label_names:
            out.add("labels")
        return out

    def summary(self) -> str:
        return f"the text encoder {self.encoder.provenance.get('path') or self.encoder.name} on {self.reports.path}"

    def requirement_text(self, requirement: str) -> str:
        if requirement == "labels":  # a text encoder's labels come with its reports
            return "CheXpert label columns in the reports CSV (--reports)"
        return super().requirement_text(requirement)

    def describe(self) -> dict[str, Any]:
        out = {"kind": self.kind, "content_sha256": self.encoder.weights_sha256, "encoder": self.encoder.name,
               "path": str(self.encoder.provenance.get("path", "")), "extractions": list(self.extractions)}
        if self.step is not None:
            out.update(run=self.run, step=self.step)
        return out

    def inputs(self) -> dict[str, Any]:
        return {"report_set": self.reports.describe()}

    def default_name(self) -> str:
        if self.step is not None:
            return f"{Path(str(self.run)).parent.name or Path(str(self.run)).name} @ step {self.step}"
        path = self.encoder.provenance.get("path")
        return Path(str(path)).name if path else self.encoder.name

    def n_units(self) -> int:
        return len(self.reports.prompts)

    def models(self) -> dict[str, Any]:
        return {"text_encoder": self.encoder}


@dataclass
class ReportPairsSubject(Subject):
    """Generated reports scored against references, no images (`cxrgen-bench score-reports`): for
    report-generation researchers, and to re-score stored reports with other scorers."""

    hypotheses: "ReportTable"
    references: "ReportTable"
    kind: ClassVar[str] = "report-pairs"

    def __post_init__(self) -> None:
        hyp, ref = set(self.hypotheses.texts), set(self.references.texts)
        if hyp != ref:
            only_h, only_r = sorted(hyp - ref), sorted(ref - hyp)
            raise InputError(f"{self.hypotheses.path} and {self.references.path} must hold the same ids: "
                             + "; ".join(part for part in (
                                 f"{len(only_h)} only in the hypotheses, e.g. {only_h[:3]}" if only_h else "",
                                 f"{len(only_r)} only in the references, e.g. {only_r[:3]}" if only_r else "") if part))

    def provides(self) -> set[str]:
        return {"report_pairs"}

    def summary(self) -> str:
        return f"the reports {self.hypotheses.path} against {self.references.path}"

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "content_sha256": key_of(h=self.hypotheses.sha256, r=self.references.sha256),
                "hypotheses": self.hypotheses.describe(), "references": self.references.describe()}

    def default_name(self) -> str:
        return Path(self.hypotheses.path).stem

    def n_units(self) -> int:
        return len(self.hypotheses.texts)

    def pairs(self) -> tuple[list[str], list[str], list[str]]:
        ids = sorted(self.hypotheses.texts)
        return ids, [self.hypotheses.texts[i] for i in ids], [self.references.texts[i] for i in ids]


@dataclass
class ReportTable:
    """A CSV of reports: an id column (prompt_id, or id) and a text column (text, or report). An empty
    generated report is kept (a report generator that wrote nothing scores 0, counted and said); an empty
    reference is an error naming its row (there is nothing to score against)."""

    path: str
    texts: dict[str, str]
    sha256: str
    empty: int

    @classmethod
    def from_csv(cls, path: str | Path, what: str = "reports") -> "ReportTable":
        import csv
        import io

        path = Path(path)
        if path.is_dir():
            raise InputError(f"{path}: is a folder; give the {what} as a CSV file (id, text)")
        if not path.is_file():
            raise InputError(f"{path}: {what} file not found")
        try:
            raw = path.read_bytes()
            if b"\x00" in raw:  # a binary file, or UTF-16 from a spreadsheet: no report has a NUL in it
                line = raw[:raw.index(b"\x00")].count(b"\n") + 1
                raise InputError(f"{path} line {line}: a NUL byte: not a UTF-8 CSV (a binary file, or UTF-16 text: "
                                 "re-save it as CSV UTF-8)")
            # newline="": quoted line breaks inside a report stay part of it (splitlines would cut them)
            table = csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""))
            header = list(table.fieldnames or [])
            rows = list(table)
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text ({exc}); re-save the CSV as UTF-8") from None
        except csv.Error as exc:
            raise InputError(f"{path}: not a readable CSV ({exc})") from None
        id_col = next((c for c in ("prompt_id", "id", "study_id") if c in header), None)
        text_col = next((c for c in ("text", "report", "impression") if c in header), None)
        if id_col is None or text_col is None:
            raise InputError(f"{path}: needs an id column (prompt_id or id) and a text column (text, report or "
                             f"impression); found {', '.join(header) or 'none'}")
        texts: dict[str, str] = {}
        for n, row in enumerate(rows, start=2):
            rid = (row[id_col] or "").strip()
            if not rid:
                raise InputError(f"{path} line {n}: empty {id_col}")
            if rid in texts:
                raise InputError(f"{path} line {n}: duplicate {id_col} {rid!r}")
            texts[rid] = " ".join((row[text_col] or "").split())
            if not texts[rid] and what == "references":
                raise InputError(f"{path} line {n}: the reference report of {rid!r} is empty; a generated report "
                                 "cannot be scored against nothing (remove the row from both files, or fill it in)")
        if not texts:
            raise InputError(f"{path}: no {what}")
        return cls(str(path), texts, hashlib.sha256(raw).hexdigest(), sum(not t for t in texts.values()))

    def describe(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "n": len(self.texts), "empty": self.empty}


@dataclass
class StudySubject(Subject):
    """A study's own description (its settings and the data it trains on), written by the study."""

    study: str
    settings: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "study"

    def provides(self) -> set[str]:
        return {"training_budget"}

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "content_sha256": key_of(study=self.study, settings=self.settings, data=self.data),
                "study": self.study, "settings": self.settings, "data": self.data}

    def default_name(self) -> str:
        return self.study


GENERATION_RECORD = "generation.json"


def generator_provenance(images: ImageSet) -> dict[str, Any]:
    """What made the images: the harness's generation.json (generator, version, weights sha256,
    settings) when the folder has one, checked against the images actually scored."""
    record = images.root / GENERATION_RECORD
    if not record.is_file():
        return {"name": "folder", "path": str(images.root), "layout": images.layout,
                "note": f"no {GENERATION_RECORD}: images made outside cxrgen-bench's harness"}
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        generator = dict(data["generator"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # The images are still scorable; the results say that their provenance could not be read.
        return {"name": "folder", "path": str(images.root), "layout": images.layout, "record": str(record),
                "note": f"unreadable {GENERATION_RECORD} ({type(exc).__name__}: {exc}): generator unknown"}
    recorded = data.get("images_content_sha256")
    generator.update(path=str(images.root), layout=images.layout, record=str(record),
                     record_sha256=hashlib.sha256(record.read_bytes()).hexdigest(),
                     prompts_sha256=(data.get("prompts") or {}).get("sha256"),
                     # True: these are exactly the images the harness wrote; False: the folder changed since;
                     # None: a record from before the harness stored the images' hash.
                     # a subset (score --subset) is compared through the whole folder it was taken from
                     matches_images=None if recorded is None else
                     recorded == (images.full_content_sha256 or images.content_sha256))
    return generator
