"""CLIP token lengths (the unit of RoentGen's 77-token prompt filter and of Fig. 3's bins)."""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable

CLIP_CONTEXT = 77  # includes the start and end tokens


@lru_cache(maxsize=1)
def _tokenizer():
    from open_clip.tokenizer import SimpleTokenizer  # CLIP's BPE; the vocabulary ships with open_clip

    return SimpleTokenizer()


@lru_cache(maxsize=200_000)
def clip_token_count(text: str) -> int:
    """BPE tokens of CLIP's tokenizer, without the start/end tokens (reports repeat a lot: cached)."""
    return len(_tokenizer().encode(text))


def clip_token_lengths(texts: Iterable[str]) -> list[int]:
    return [clip_token_count(t) for t in texts]


def fits_clip_context(text: str) -> bool:
    """True when the text, with start and end tokens, fits CLIP's 77-token context."""
    return clip_token_count(text) + 2 <= CLIP_CONTEXT
