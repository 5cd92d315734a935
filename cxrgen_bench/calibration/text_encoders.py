"""Stand-in text encoders of known quality for the calibration benchmark's text-encoder section
(like the phantom generators: not models of language, but encoders whose CheXpert@k ordering is
known in advance, so that the metric can be shown to move the right way):

- phantom-reader           reads a report's findings with the rule-based labeller and embeds them
                           (one coordinate per CheXpert class: 1 positive, 0.5 uncertain, 0 else, and a
                           constant one): reports with the same findings coincide — the ceiling;
- phantom-reader-shuffled  the same reader given the report's words in a shuffled order: negations
                           and hedges lose their scope ("No pneumothorax." reads as "pneumothorax no"),
                           so findings are misread — below the reader;
- random-hash              a seeded random vector per text (its sha256): no knowledge — the floor,
                           which CheXpert@k puts at about the prevalence of each class;
- phantom-findings         the text tower of the phantom evaluator's image–text space: the findings a
                           report states, by side (effusion, pneumothorax, consolidation left/right;
                           cardiomegaly, edema, devices; and "none"), for image→text retrieval and
                           alignment on phantoms.
The bag-of-words baseline (`bow`) sits between reader and floor on phantom reports."""
from __future__ import annotations

import hashlib
import inspect
from typing import Any

import numpy as np

from ..data.labeller import label_report
from ..data.labels import CHEXPERT_14
from ..models.text.base import TextEncoder
from .phantom import targets
from .reports import findings_from_text


class PhantomReader(TextEncoder):
    name = "phantom-reader"
    extractions = ("model-specific",)
    default_extraction = "model-specific"
    similarity = "cosine"
    shuffled = False
    max_length = 10**9

    def __init__(self, location: str | None = None, device: str = "cpu", allow_pickle: bool = False, **_: Any):
        super().__init__(device=device, allow_pickle=allow_pickle)
        source = inspect.getsource(inspect.getmodule(PhantomReader)) + inspect.getsource(label_report)
        self.provenance = {"source": f"cxrgen_bench.calibration.text_encoders:{type(self).__name__}",
                           "sha256": hashlib.sha256(f"{self.name}\n{source}".encode()).hexdigest()}

    def load(self) -> Any:
        return label_report

    def encode(self, texts: list[str], extraction: str) -> tuple[np.ndarray, list[bool]]:
        rows = []
        for text in texts:
            if self.shuffled:
                words = text.split()
                np.random.default_rng(_seed(text)).shuffle(words)
                text = " ".join(words)
            labels = self.model(text)
            rows.append([1.0] + [{1.0: 1.0, -1.0: 0.5}.get(labels[c], 0.0) for c in CHEXPERT_14])
        return np.array(rows, dtype=np.float32), [False] * len(texts)


class ShuffledReader(PhantomReader):
    name = "phantom-reader-shuffled"
    shuffled = True


class RandomHash(PhantomReader):
    name = "random-hash"

    def encode(self, texts: list[str], extraction: str) -> tuple[np.ndarray, list[bool]]:
        vectors = [np.random.default_rng(_seed(t)).normal(size=32) for t in texts]
        return np.array(vectors, dtype=np.float32), [False] * len(texts)


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


class PhantomFindingsText(PhantomReader):
    name = "phantom-findings"

    def encode(self, texts: list[str], extraction: str) -> tuple[np.ndarray, list[bool]]:
        rows = []
        for text in texts:  # a side the text leaves open is drawn from the text's own hash, as generators do
            stated = targets(findings_from_text(text, np.random.default_rng(_seed(text))))
            rows.append(np.append(stated, float(not stated.any())))
        return np.array(rows, dtype=np.float32), [False] * len(texts)
