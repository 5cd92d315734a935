"""CLIP token lengths (the unit of RoentGen's 77-token prompt filter and of Fig. 3's bins)."""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable

CLIP_CONTEXT = 77  # includes the start and end tokens


@lru_cache(maxsize=1)
def _tokenizer():
    """CLIP's BPE tokenizer; its code and vocabulary ship with open_clip. The module is loaded on its own:
    `import open_clip` builds every model module (and transformers), 7 s on 2 cores, for a tokenizer."""
    import importlib.util
    import sys

    name = "open_clip.tokenizer"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.find_spec("open_clip")
        if spec is None or not spec.submodule_search_locations:
            from ..errors import InputError

            raise InputError("CLIP token lengths need open_clip_torch (pip install open_clip_torch)")
        path = f"{list(spec.submodule_search_locations)[0]}/tokenizer.py"
        loader_spec = importlib.util.spec_from_file_location("cxrgen_bench._clip_tokenizer", path)
        module = importlib.util.module_from_spec(loader_spec)
        loader_spec.loader.exec_module(module)  # imports ftfy, regex, numpy, torch only
    return module.SimpleTokenizer()


@lru_cache(maxsize=200_000)
def clip_token_count(text: str) -> int:
    """BPE tokens of CLIP's tokenizer, without the start/end tokens (reports repeat a lot: cached)."""
    return len(_tokenizer().encode(text))


def clip_token_lengths(texts: Iterable[str]) -> list[int]:
    return [clip_token_count(t) for t in texts]


def fits_clip_context(text: str) -> bool:
    """True when the text, with start and end tokens, fits CLIP's 77-token context."""
    return clip_token_count(text) + 2 <= CLIP_CONTEXT
