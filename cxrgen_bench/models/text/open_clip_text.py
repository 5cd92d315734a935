"""The text tower of an open_clip model: architecture by name, weights from one file.

Location syntax: ``ARCH@PATH``, e.g. ``ViT-B-32-quickgelu@/weights/open_clip_pytorch_model.bin``
(open_clip's checkpoint format: a state dict; safetensors, or a torch.save file read weights-only).
Extractions: ``cls`` (start-of-text state), ``mean`` (masked mean of the final token states),
``pooler`` (the end-of-text state after the final layer norm, before the projection) and
``model-specific`` (`encode_text`: the projected end-of-text embedding CLIP was trained with). Towers
built on a Hugging Face text model (BiomedCLIP and the like) offer ``model-specific`` only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from ..weights import WeightsSpec, inspect_weights, load_state_dict, load_strict, resolve_weights
from .base import TextEncoder

class OpenCLIPText(TextEncoder):
    name = "open-clip"
    default_extraction = "model-specific"

    def __init__(self, location: str, device: str = "cpu", allow_pickle: bool = False, **_: Any):
        super().__init__(device=device, allow_pickle=allow_pickle)
        arch, sep, path = str(location).partition("@")
        if not sep or not arch or not path:
            raise InputError(f"open_clip text encoder {location!r}: expected ARCH@WEIGHTS_FILE, e.g. "
                             "open-clip:ViT-B-32-quickgelu@/weights/open_clip_pytorch_model.bin")
        self.arch = arch
        import open_clip

        config = open_clip.get_model_config(arch)
        if config is None:
            raise InputError(f"open_clip has no architecture {arch!r}; see open_clip.list_models()")
        text_cfg = config.get("text_cfg", {})
        self.max_length = int(text_cfg.get("context_length", 77))
        # cls/mean/pooler read CLIP's own transformer; a Hugging Face tower only gives encode_text
        self.extractions = ("model-specific",) if text_cfg.get("hf_model_name") else (
            "cls", "mean", "pooler", "model-specific")
        self.resolved = resolve_weights(WeightsSpec(f"open-clip {arch}", Path(path).name), path)
        self.provenance = {**inspect_weights(self.resolved), "architecture": arch}

    def key(self, **settings: Any) -> str:
        return super().key(architecture=self.arch, **settings)

    def load(self) -> Any:
        import logging

        import open_clip

        state_dict, _ = load_state_dict(self.resolved, self.allow_pickle)
        logging.disable(logging.WARNING)  # "no pretrained weights loaded": they are loaded just below
        try:
            model = open_clip.create_model(self.arch, pretrained=None)
        finally:
            logging.disable(logging.NOTSET)
        load_strict(model, {k: v.float() for k, v in state_dict.items()}, str(self.resolved.path))
        return open_clip.get_tokenizer(self.arch), model.eval().to(self.device)

    def encode(self, texts: list[str], extraction: str) -> tuple[np.ndarray, list[bool]]:
        tokenizer, model = self.model
        return encode_with(tokenizer, model, texts, extraction, self.max_length, self.device)


def encode_with(tokenizer: Any, model: Any, texts: list[str], extraction: str, max_length: int,
                device: str) -> tuple[np.ndarray, list[bool]]:
    """An open_clip text tower's embeddings of ``texts`` and which texts it had to truncate."""
    import torch

    truncated = [n > max_length for n in _token_counts(tokenizer, texts)]
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            ids = tokenizer(texts[start:start + 64]).to(device)
            if extraction == "model-specific":
                out.append(model.encode_text(ids).float().cpu().numpy())
                continue
            hidden, eot = _token_states(model, ids)
            if extraction == "cls":
                vec = hidden[:, 0]
            elif extraction == "mean":
                mask = torch.arange(ids.shape[1], device=ids.device)[None] <= eot[:, None]
                vec = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            else:
                vec = hidden[torch.arange(len(ids)), eot]
            out.append(vec.float().cpu().numpy())
    return np.concatenate(out).astype(np.float32), truncated


def _token_counts(tokenizer: Any, texts: list[str]) -> list[int]:
    """Untruncated token counts (open_clip's tokenizers truncate silently), special tokens included."""
    if hasattr(tokenizer, "encode"):  # CLIP's byte-pair tokenizer
        return [len(tokenizer.encode(t)) + 2 for t in texts]
    inner = getattr(tokenizer, "tokenizer", None)  # HFTokenizer / SigLipTokenizer wrap a transformers one
    if inner is not None and hasattr(inner, "__call__"):
        return [len(ids) for ids in inner(texts, truncation=False)["input_ids"]]
    raise InputError(f"cannot count tokens with open_clip tokenizer {type(tokenizer).__name__}: truncation "
                     "could not be reported")


def _token_states(model: Any, ids: Any) -> tuple[Any, Any]:
    """Final-layer-normed token states (B, T, d) and each text's end-of-text position, computed as
    `encode_text` computes them before pooling (CLIP's "argmax" pooling) and projecting."""
    if getattr(model, "text_pool_type", "argmax") != "argmax":
        raise InputError(f"open_clip text tower pools with {model.text_pool_type!r}; only CLIP's end-of-text "
                         "pooling is supported for cls/mean/pooler (use model-specific)")
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(ids).to(cast) + model.positional_embedding.to(cast)
    x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask))
    return x, ids.argmax(dim=-1)  # the end-of-text token has the largest id in CLIP's vocabulary
