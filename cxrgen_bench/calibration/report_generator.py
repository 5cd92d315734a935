"""`phantom-reader`: a report generator for the calibration benchmark. It reads a phantom radiograph
with the phantom evaluator (per-side effusion, pneumothorax, consolidation; cardiomegaly, edema,
support devices) and writes the impression `reports.write_report` would write for those findings,
with a fixed phrasing (a seeded generator per image: the same findings give the same words). It is
the offline stand-in for the fixed RRG model of RoentGen Table 4: known answers, not a CXR model."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..models.report.base import ReportGenerator
from .phantom import SIDE_OUTPUTS, Findings
from .reports import write_report

THRESHOLD = 0.5
DEVICE = "central line"  # the evaluator sees "a device", not which: one name stands for all


class PhantomReportGenerator(ReportGenerator):
    name = "phantom-reader"

    def __init__(self, location: str | None = None, **kwargs: Any):
        super().__init__(location, **kwargs)
        from ..models.image import build_backbone
        from ..profiles import get_profile

        self.evaluator = build_backbone("phantom-evaluator", get_profile("calibration-phantom").backbone(
            "phantom-evaluator"))
        self.provenance = {**self.evaluator.provenance, "source": "phantom evaluator + calibration.reports"}

    def load(self) -> Any:
        return self.evaluator.model

    def read(self, image: np.ndarray) -> Findings:
        probs = self.evaluator.features([self.evaluator.preprocess(image)], "classifier")[0]
        sides = self.evaluator.features([self.evaluator.preprocess(image)], "sides")[0].reshape(len(SIDE_OUTPUTS), 2)
        on = {name: tuple(s for s, p in zip(("left", "right"), sides[i]) if p > THRESHOLD)
              for i, name in enumerate(SIDE_OUTPUTS)}
        other = dict(zip(self.evaluator.class_names, probs))
        return Findings(effusion=on["Pleural Effusion"], pneumothorax=on["Pneumothorax"],
                        consolidation=tuple((s, "lower") for s in on["Consolidation"]),
                        cardiomegaly=bool(other["Cardiomegaly"] > THRESHOLD), edema=bool(other["Edema"] > THRESHOLD),
                        devices=(DEVICE,) if other["Support Devices"] > THRESHOLD else ())

    def write(self, images: list[np.ndarray]) -> list[str]:
        return [write_report(self.read(image), np.random.default_rng(0))[0] for image in images]
