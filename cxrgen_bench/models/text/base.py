"""What every text encoder declares and does: texts in, one document-level vector per text out.

Extraction methods (seeds/001 §2.4):
- ``cls``: the last layer's hidden state of the first token (BERT's [CLS]; CLIP's start-of-text —
  which CLIP's causal attention makes the same vector for every text: a degenerate embedding that
  seeds/001 Table 2 nevertheless reports, CheXpert@k then measures only tie order, and says so);
- ``mean``: the mean of the last layer's hidden states over the text's tokens (padding masked out);
- ``pooler``: the model's pooler output (BERT: tanh(W·CLS); CLIP: the end-of-text token's state
  after the final layer norm, CLIP's own sentence embedding);
- ``model-specific``: a model's own sentence embedding where it has one beyond the pooler (open_clip:
  the projected end-of-text embedding of `encode_text`; CLIP text models with a projection head);
- ``words``: the bag-of-words baseline's binary word-set vector (compared by Jaccard similarity).

A text longer than the encoder's limit is truncated; how many were is returned with the embeddings
and recorded in the results. `key(extraction=...)` names the weights, tokenizer and extraction for the
content-addressed cache.
"""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ...errors import InputError
from ..base import Model

EXTRACTIONS = ("cls", "mean", "pooler", "model-specific", "words")


class TextEncoder(Model):
    kind = "text-encoder"
    extractions: tuple[str, ...] = EXTRACTIONS
    default_extraction: ClassVar[str] = "cls"  # used when neither the user nor the profile names one
    similarity: ClassVar[str | None] = None  # a similarity the encoder's vectors require (bag of words: jaccard)
    cacheable: ClassVar[bool] = True  # False when an embedding depends on the other texts (a corpus vocabulary)
    max_length: int = 512

    def check(self, extraction: str) -> None:
        if extraction not in EXTRACTIONS:
            raise InputError(f"unknown extraction {extraction!r}; choose from {', '.join(EXTRACTIONS)}")
        if extraction not in self.extractions:
            where = f" ({self.provenance['path']})" if self.provenance.get("path") else ""
            raise InputError(f"text encoder {self.name}{where} has no {extraction!r} extraction; it has "
                             f"{', '.join(self.extractions)} (--extraction)")

    def embedding_key(self, extraction: str) -> str:
        self.check(extraction)
        return self.key(extraction=extraction, max_length=self.max_length)

    def embed(self, texts: list[str], extraction: str) -> tuple[np.ndarray, list[bool]]:
        """(len(texts), d) float32 embeddings and, per text, whether it was truncated."""
        self.check(extraction)
        if any(not t or not t.strip() for t in texts):
            raise InputError(f"text encoder {self.name}: empty text among {len(texts)}; every report needs text")
        return self.encode(texts, extraction)

    def encode(self, texts: list[str], extraction: str) -> tuple[np.ndarray, list[bool]]:
        raise NotImplementedError


def masked_mean(hidden: Any, mask: Any) -> Any:
    """Mean of hidden states (B, T, d) over the tokens where mask (B, T) is 1."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
