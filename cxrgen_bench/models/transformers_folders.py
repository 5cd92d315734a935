"""Reading transformers model folders offline, quietly and safely: what the text encoders, the image–text
models and the report models share (imported transformers lazily; no remote code; weights that do not
cover the architecture are an error, not random values)."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError

# A folder must carry its tokenizer's vocabulary: without one, transformers builds an empty tokenizer
# that maps every word to [UNK] and embeds every report alike — a silent wrong number.
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "tokenizer.model",
                   "sentencepiece.bpe.model")
# Position embeddings of these start after the padding index: 2 of max_position_embeddings are unusable.
OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert", "longformer", "mpnet")


def features_of(output: Any) -> Any:
    """`get_text_features` / `get_image_features` return a tensor (transformers 4) or an output whose
    pooler_output is the projected embedding (transformers 5)."""
    return output if hasattr(output, "ndim") else output.pooler_output


def load_tokenizer(folder: Path) -> Any:
    transformers = import_transformers()
    try:
        with quiet_transformers():
            return transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True,
                                                              trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{folder}: no usable tokenizer ({exc}); save it beside the model "
                         "with tokenizer.save_pretrained(folder)") from exc


def require_tokenizer(folder: Path) -> None:
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise InputError(f"{folder}: no usable tokenizer in this text-encoder folder (none of "
                         f"{', '.join(TOKENIZER_FILES)}); save it beside the model with tokenizer.save_pretrained(folder)")


def import_transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise InputError("text encoders from Hugging Face folders need transformers: "
                         "pip install 'cxrgen-bench[text]'") from None
    return transformers


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' loading bars and "sequence longer than the maximum" warnings would interleave with
    our own progress; truncation is counted and reported by us instead. Restores the user's settings."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def load_checked(auto: Any, folder: Path, allow_pickle: bool, device: str) -> tuple[Any, bool]:
    """Load strictly: transformers fills missing weights with random values and only warns; here a
    checkpoint that does not cover the architecture is an error — the pooler aside (see _extractions):
    the second value says whether its weights were missing, so that its output is refused, not faked."""
    with quiet_transformers():
        model, info = auto.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False,
                                           use_safetensors=None if allow_pickle else True, output_loading_info=True)
    all_missing = info.get("missing_keys", [])
    missing = [k for k in all_missing if not (k.startswith("pooler.") or ".pooler." in k)]
    if missing:
        raise InputError(f"{folder}: the weights do not cover the model its config describes; missing "
                         f"{len(missing)} tensor(s), e.g. {sorted(missing)[:3]}")
    return model.eval().to(device), len(all_missing) > len(missing)


def load_image_processor(folder: Path) -> Any:
    """The folder's image processor on its PIL backend, whichever transformers is installed. transformers 4
    defaults to the "slow" processors, which resize with PIL; transformers 5 defaults to a torchvision backend
    whose bicubic resize moves RAD-DINO's pixel values by up to 0.03. The peers ran the PIL path (CheXGenBench:
    transformers 4.50.3), so it is asked for by name, and a processor that has no PIL backend is refused
    rather than run on another one."""
    transformers = import_transformers()
    major = int(transformers.__version__.split(".")[0])
    backend = {"backend": "pil"} if major >= 5 else {"use_fast": False}
    with quiet_transformers():
        processor = transformers.AutoImageProcessor.from_pretrained(str(folder), local_files_only=True,
                                                                    trust_remote_code=False, **backend)
    if runs_on_torchvision(processor):
        raise InputError(f"{folder}: transformers {transformers.__version__} has no PIL image processor for "
                         f"{type(processor).__name__}; its torchvision one resizes differently, so it is not used")
    return processor


def runs_on_torchvision(processor: Any) -> bool:
    """Whether an image processor is a torchvision ("fast") one, in transformers 4 or 5."""
    import importlib

    for module, name in (("transformers.image_processing_backends", "TorchvisionBackend"),
                         ("transformers.image_processing_utils_fast", "BaseImageProcessorFast")):
        try:
            base = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        if isinstance(processor, base):
            return True
    return False


def token_lengths(tokenizer: Any, texts: list[str]) -> list[int]:
    """Untruncated token counts, special tokens included: how many texts a model had to truncate."""
    with quiet_transformers():
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]]


def read_config(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(f"{folder / 'config.json'}: missing or unreadable model config") from None


def token_limit(config: dict[str, Any], tokenizer_folder: Path) -> int:
    """Tokens the model can take: its position embeddings (less the two RoBERTa-style offsets), capped
    by the tokenizer's own limit where it declares a sensible one."""
    limit = int(config.get("max_position_embeddings") or 512)
    if config.get("model_type") in OFFSET_POSITIONS:
        limit -= 2
    try:
        declared = json.loads((tokenizer_folder / "tokenizer_config.json").read_text(encoding="utf-8")).get(
            "model_max_length")
    except (OSError, ValueError):
        declared = None
    if isinstance(declared, (int, float)) and 0 < declared < 100_000:
        limit = min(limit, int(declared))
    return limit
