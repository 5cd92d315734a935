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
from ..data.manifest import ImageRecord, ImageSet, PromptSet
from ..errors import InputError
from ..metrics.card import CHECKED_BY_METRIC, REQUIREMENTS


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

    def missing_for(self, metric: str, requires: tuple[str, ...]) -> str | None:
        """A sentence saying what this subject lacks for a metric, or None when it has everything."""
        missing = [r for r in requires if r not in CHECKED_BY_METRIC and r not in self.provides()]
        if not missing:
            return None
        needs = "; ".join(REQUIREMENTS[r] for r in missing)
        return f"metric {metric} needs {needs}; this run evaluates {self.summary()}"

    def summary(self) -> str:
        return self.kind


@dataclass
class ImageSetSubject(Subject):
    images: ImageSet
    reference: ImageSet | None = None
    prompts: PromptSet | None = None
    kind: ClassVar[str] = "image-set"

    def provides(self) -> set[str]:
        out = {"images"}
        if self.reference is not None:
            out.add("reference")
        if self.prompts is not None or self.images.prompts:
            out.add("prompts")
        if self.prompts is not None and self.prompts.label_names:
            out.add("labels")
        return out

    def summary(self) -> str:
        extras = [w for w, x in (("reference images", self.reference), ("prompts", self.prompts)) if x is not None]
        return f"the image folder {self.images.root}" + (f" with {' and '.join(extras)}" if extras else "")

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.images.describe()}

    def inputs(self) -> dict[str, Any]:
        return {"reference_set": self.reference.describe() if self.reference else None,
                "prompt_set": self.prompts.describe() if self.prompts else None}

    def default_name(self) -> str:
        return self.images.root.name

    def model(self) -> dict[str, Any]:
        return {"generator": generator_provenance(self.images)}

    def n_units(self) -> int:
        return len(self.images.prompt_ids)

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
                     matches_images=None if recorded is None else recorded == images.content_sha256)
    return generator
