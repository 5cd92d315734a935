"""`rule-based`: the project's CheXpert-style rule labeller (`cxrgen_bench.data.labeller`), offline.
Its "weights" are its rules: the sha256 of the labeller's source, so a rule change invalidates cached
labels. Agreement with OpenI's MeSH terms is measured in docs/labeller.md."""
from __future__ import annotations

import hashlib
import inspect
from typing import Any

import numpy as np

from .base import Labeller


class RuleBasedLabeller(Labeller):
    name = "rule-based"

    def __init__(self, location: str | None = None, **kwargs: Any):
        super().__init__(location, **kwargs)
        from ...data import labeller

        self.provenance = {"source": "cxrgen_bench.data.labeller",
                           "sha256": hashlib.sha256(inspect.getsource(labeller).encode()).hexdigest()}

    def load(self) -> Any:
        from ...data.labeller import label_report

        return label_report

    def annotate(self, texts: list[str]) -> np.ndarray:
        rows = [self.model(t) for t in texts]
        return np.array([[np.nan if r[c] is None else r[c] for c in self.classes] for r in rows], dtype=np.float32)
