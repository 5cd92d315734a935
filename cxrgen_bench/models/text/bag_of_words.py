"""`bow`: the bag-of-words baseline of seeds/001 §3.3 — no model, no embedding space: a report is the
set of its words, and two reports are as similar as the intersection over union (Jaccard) of their
word sets. Words are lower-cased runs of letters and digits; nothing is stemmed or dropped, so
negations ("no pneumothorax") share the word "pneumothorax" with its affirmation — the weakness a
trained encoder should overcome.

Its vectors are binary word-set indicators over the vocabulary of the texts embedded together, so
they are not cached per text (they depend on the corpus) and they are sparse (scipy CSR): a
MIMIC-sized report set has tens of thousands of distinct words.
"""
from __future__ import annotations

import hashlib
import inspect
import re
from typing import Any

import numpy as np

from .base import TextEncoder

WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


class BagOfWords(TextEncoder):
    name = "bow"
    extractions = ("words",)
    default_extraction = "words"
    similarity = "jaccard"
    cacheable = False
    max_length = 10**9  # nothing is truncated

    def __init__(self, location: str | None = None, device: str = "cpu", allow_pickle: bool = False, **_: Any):
        super().__init__(device=device, allow_pickle=allow_pickle)
        source = inspect.getsource(inspect.getmodule(BagOfWords))
        self.provenance = {"source": "cxrgen_bench.models.text.bag_of_words",
                           "sha256": hashlib.sha256(source.encode()).hexdigest()}

    def load(self) -> Any:
        return words

    def encode(self, texts: list[str], extraction: str) -> tuple[Any, list[bool]]:
        from scipy import sparse

        sets = [self.model(t) for t in texts]
        vocabulary = {w: j for j, w in enumerate(sorted(set().union(*sets)))}
        rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
        cols = np.array([vocabulary[w] for s in sets for w in sorted(s)], dtype=np.int64)
        matrix = sparse.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)),
                                   shape=(len(sets), max(1, len(vocabulary))))
        return matrix, [False] * len(texts)
