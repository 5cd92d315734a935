"""Text encoders from Hugging Face folders: any transformers encoder folder (BERT family: RadBERT,
SapBERT, CXR-BERT, PubMedBERT, ClinicalBERT, MiniLM, ...) and the text encoder of a diffusers
pipeline folder or of a trainer checkpoint (`text_encoder/` + `tokenizer/`, as the reference trainer
writes them at every checkpoint).

Loaded offline (`local_files_only`), safetensors only unless --allow-pickle, and never with remote
code: a folder whose config declares `auto_map` is refused before anything is loaded. Weights that
do not cover the architecture (transformers would fill the gap with random values) are an error.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ...errors import InputError
from ..base import folder_provenance
from ..folders import CONFIG_SUFFIXES, WEIGHT_SUFFIXES, check_pipeline_folder, folder_sha256
from .base import TextEncoder, masked_mean

BATCH = 64
# A folder must carry its tokenizer's vocabulary: without one, transformers builds an empty tokenizer
# that maps every word to [UNK] and embeds every report alike — a silent wrong number.
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "tokenizer.model",
                   "sentencepiece.bpe.model")
# Position embeddings of these start after the padding index: 2 of max_position_embeddings are unusable.
OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert", "longformer", "mpnet")


class HFTextEncoder(TextEncoder):
    """A transformers model folder plus its tokenizer's folder."""

    def __init__(self, location: str | Path, device: str = "cpu", allow_pickle: bool = False, **_: Any):
        super().__init__(device=device, allow_pickle=allow_pickle)
        self.folder = Path(location)
        self.model_folder, self.tokenizer_folder = self.locate(self.folder)
        require_tokenizer(self.tokenizer_folder)
        # weights, configs and vocabulary all change the embeddings: all are in the hash
        self.provenance = {**folder_provenance(self.model_folder, allow_pickle, WEIGHT_SUFFIXES + CONFIG_SUFFIXES),
                           "path": str(self.folder)}
        if self.tokenizer_folder != self.model_folder:
            self.provenance["sha256"] = _combine(self.provenance["sha256"],
                                                 folder_sha256(self.tokenizer_folder, CONFIG_SUFFIXES))
        config = _config(self.model_folder)
        self.extractions = _extractions(self.model_folder, config)
        self.causal = config.get("model_type") in ("clip_text_model", "clip")
        self.max_length = _max_length(config, self.tokenizer_folder)

    def locate(self, folder: Path) -> tuple[Path, Path]:
        return folder, folder

    def load(self) -> Any:
        return load_tokenizer(self.tokenizer_folder), _load_model(_transformers().AutoModel, self.model_folder,
                                                                   self.allow_pickle, self.device)

    def encode(self, texts: list[str], extraction: str) -> tuple[np.ndarray, list[bool]]:
        tokenizer, model = self.model
        return _run(tokenizer, model, texts, extraction, self.max_length, self.device)


class TransformersEncoder(HFTextEncoder):
    """Any transformers encoder folder: config.json, weights and its tokenizer's files."""

    name = "transformers"
    default_extraction = "cls"  # seeds/001 Table 2: the CLS state works best for most BERTs


class DiffusersTextEncoder(HFTextEncoder):
    """The text encoder of a diffusers pipeline folder (SD's CLIP text tower, or a swapped domain
    encoder), or of a trainer checkpoint folder (text_encoder/ and tokenizer/ without model_index.json)."""

    name = "diffusers"
    default_extraction = "pooler"  # CLIP's own sentence embedding (the end-of-text state)

    def locate(self, folder: Path) -> tuple[Path, Path]:
        if (folder / "model_index.json").is_file():
            check_pipeline_folder(folder, self.allow_pickle)
        tokenizer = folder / "tokenizer"
        # checkpoints of runs from before the trainer kept the tokenizer with each one: the run's own
        # (RUN/checkpoints/checkpoint-N → RUN/tokenizer, written when the run finished)
        if not tokenizer.is_dir() and (folder.parent.parent / "tokenizer").is_dir():
            tokenizer = folder.parent.parent / "tokenizer"
        for part in (folder / "text_encoder", tokenizer):
            if not part.is_dir():
                raise InputError(f"{folder}: has no {part.name}/ (a pipeline or checkpoint without a text encoder "
                                 "and its tokenizer cannot be scored with CheXpert@k)")
        return folder / "text_encoder", tokenizer


class PairedHFText(TextEncoder):
    """The text tower of a transformers image–text model folder (CLIP, SigLIP, ...: `get_text_features`):
    the image backbone's own loaded network and the tokenizer saved in its folder, so image and text
    embeddings share one space (see models/image/transformers_vision.py)."""

    name = "paired-transformers"
    extractions = ("model-specific",)
    default_extraction = "model-specific"

    def __init__(self, backbone: Any):
        super().__init__(device=str(backbone.device), allow_pickle=backbone.allow_pickle)
        self.backbone = backbone
        require_tokenizer(backbone.folder)
        self.provenance = {**backbone.provenance, "tower": "text", "image_backbone": backbone.name}
        config = _config(backbone.folder)
        self.max_length = _max_length(config.get("text_config") or {}, backbone.folder)
        # SigLIP's towers were trained on texts padded to the full length (and take no attention mask)
        self.padding = "max_length" if str(config.get("model_type", "")).startswith("siglip") else True

    def key(self, **settings: Any) -> str:
        return super().key(backbone=self.backbone.name, **settings)

    def load(self) -> Any:
        return load_tokenizer(self.backbone.folder), self.backbone.model

    def encode(self, texts: list[str], extraction: str) -> tuple[np.ndarray, list[bool]]:
        import torch

        tokenizer, model = self.model
        truncated = [n > self.max_length for n in token_lengths(tokenizer, texts)]
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), BATCH):
                batch = tokenizer(texts[start:start + BATCH], padding=self.padding, truncation=True,
                                  max_length=self.max_length, return_tensors="pt").to(self.device)
                inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}
                out.append(features_of(model.get_text_features(**inputs)).float().cpu().numpy())
        return np.concatenate(out).astype(np.float32), truncated


def features_of(output: Any) -> Any:
    """`get_text_features` / `get_image_features` return a tensor (transformers 4) or an output whose
    pooler_output is the projected embedding (transformers 5)."""
    return output if hasattr(output, "ndim") else output.pooler_output


def load_tokenizer(folder: Path) -> Any:
    transformers = _transformers()
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


def _transformers() -> Any:
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


def _load_model(auto: Any, folder: Path, allow_pickle: bool, device: str) -> Any:
    return load_checked(auto, folder, allow_pickle, device)[0]


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


def token_lengths(tokenizer: Any, texts: list[str]) -> list[int]:
    """Untruncated token counts, special tokens included: how many texts a model had to truncate."""
    with quiet_transformers():
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]]


def _run(tokenizer: Any, model: Any, texts: list[str], extraction: str, max_length: int,
         device: str) -> tuple[np.ndarray, list[bool]]:
    import torch

    # Truncation is counted from the untruncated token count, so the results can say how many.
    truncated = [n > max_length for n in token_lengths(tokenizer, texts)]
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), BATCH):
            batch = tokenizer(texts[start:start + BATCH], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt").to(device)
            result = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            hidden = result.last_hidden_state
            if extraction == "cls":
                vec = hidden[:, 0]
            elif extraction == "mean":
                vec = masked_mean(hidden, batch["attention_mask"])
            elif extraction == "pooler":
                vec = result.pooler_output
            else:  # model-specific: the projected sentence embedding of a CLIP text model with a projection head
                vec = result.text_embeds
            out.append(vec.float().cpu().numpy())
    return np.concatenate(out).astype(np.float32), truncated


def _config(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(f"{folder / 'config.json'}: missing or unreadable model config") from None


def _extractions(folder: Path, config: dict[str, Any]) -> tuple[str, ...]:
    """The extractions this checkpoint supports, read from its config and weights names (not loaded).

    A BERT saved without its pooling layer (sentence-transformers models often are) would get a
    randomly initialised pooler from transformers: its "pooler output" is then refused, not faked."""
    architectures = config.get("architectures") or []
    methods = ["cls", "mean"]
    if config.get("model_type") in ("clip_text_model", "clip"):
        methods.append("pooler")  # CLIP's pooler is the end-of-text token's state: no extra weights
        if "CLIPTextModelWithProjection" in architectures:
            methods.append("model-specific")
    elif any(name.startswith("pooler.") or ".pooler." in name for name in _weight_names(folder)):
        methods.append("pooler")
    return tuple(methods)


def _weight_names(folder: Path) -> list[str]:
    from safetensors import safe_open

    names: list[str] = []
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as f:
            names.extend(f.keys())
    return names


def _max_length(config: dict[str, Any], tokenizer_folder: Path) -> int:
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


def _combine(*digests: str) -> str:
    import hashlib

    return hashlib.sha256("".join(digests).encode()).hexdigest()
