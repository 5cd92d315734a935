"""Text encoders from Hugging Face folders: any transformers encoder folder (BERT family: RadBERT,
SapBERT, CXR-BERT, PubMedBERT, ClinicalBERT, MiniLM, ...) and the text encoder of a diffusers
pipeline folder or of a trainer checkpoint (`text_encoder/` + `tokenizer/`, as the reference trainer
writes them at every checkpoint).

Loaded offline (`local_files_only`), safetensors only unless --allow-pickle, and never with remote
code: a folder whose config declares `auto_map` is refused before anything is loaded. Weights that
do not cover the architecture (transformers would fill the gap with random values) are an error.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from ..base import folder_provenance
from ..folders import (
    CONFIG_SUFFIXES,
    WEIGHT_SUFFIXES,
    check_pipeline_folder,
    folder_sha256,
)
from ..transformers_folders import (
    import_transformers,
    load_checked,
    load_tokenizer,
    read_config,
    require_tokenizer,
    token_lengths,
    token_limit,
)
from .base import TextEncoder, masked_mean

BATCH = 64
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
        config = read_config(self.model_folder)
        self.extractions = _extractions(self.model_folder, config)
        self.causal = config.get("model_type") in ("clip_text_model", "clip")
        self.max_length = token_limit(config, self.tokenizer_folder)

    def locate(self, folder: Path) -> tuple[Path, Path]:
        return folder, folder

    def load(self) -> Any:
        return load_tokenizer(self.tokenizer_folder), load_checked(import_transformers().AutoModel, self.model_folder,
                                                                   self.allow_pickle, self.device)[0]

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


def _combine(*digests: str) -> str:
    import hashlib

    return hashlib.sha256("".join(digests).encode()).hexdigest()
