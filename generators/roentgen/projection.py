"""Textual projection (seeds/001 §2.5): a frozen domain text encoder (e.g. CXR-BERT) whose outputs an
MLP — Linear ∘ ReLU ∘ LayerNorm ∘ Linear — maps into the space of SD's frozen CLIP text encoder, so
the U-Net can be conditioned on clinically better-structured text. Trained on captions alone (no
images) by regressing, with a mean squared error, the CLIP encoding of each caption:

- token level:    the projected sequence of domain hidden states onto CLIP's 77 last hidden states
                  (positions aligned after padding both to 77; padding positions are masked)
- document level: the projected pooled domain encoding onto CLIP's pooled output

The output folder holds `projection.safetensors` and `projection.json` (base pipeline, domain
encoder, level); the `textual-projection` generator loads base + encoder + projection.

    cxrgen-bench train textual-projection --base /weights/sd-v1-4 --text-encoder /weights/CXR-BERT \\
        --prompts captions.csv --out /ckpt/projection --max-steps 2000 --level token
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from cxrgen_bench.files import atomic_write_text
from cxrgen_bench.data.manifest import PromptSet
from cxrgen_bench.errors import InputError

from cxrgen_bench.models.folders import check_pipeline_folder


class Projection(nn.Module):
    def __init__(self, d_in: int, d_out: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or d_out
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.LayerNorm(hidden), nn.Linear(hidden, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def load_encoders(base: str, domain: str, allow_pickle: bool = False) -> dict[str, Any]:
    from transformers import AutoModel, AutoTokenizer, CLIPTextModel, CLIPTokenizer

    check_pipeline_folder(Path(base), allow_pickle)
    safe = None if allow_pickle else True
    return {"clip_tokenizer": CLIPTokenizer.from_pretrained(base, subfolder="tokenizer"),
            "clip": CLIPTextModel.from_pretrained(base, subfolder="text_encoder", use_safetensors=safe).eval(),
            "domain_tokenizer": AutoTokenizer.from_pretrained(domain),
            "domain": AutoModel.from_pretrained(domain, use_safetensors=safe).eval()}


def domain_states(enc: dict[str, Any], texts: list[str], level: str) -> tuple[torch.Tensor, torch.Tensor]:
    batch = enc["domain_tokenizer"](texts, max_length=77, padding="max_length", truncation=True, return_tensors="pt")
    hidden = enc["domain"](input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
    if level == "document":
        return hidden[:, 0], torch.ones(len(texts), 1)  # the CLS state (seeds/001's best extraction)
    return hidden, batch.attention_mask.float()


def clip_states(enc: dict[str, Any], texts: list[str], level: str) -> torch.Tensor:
    ids = enc["clip_tokenizer"](texts, max_length=77, padding="max_length", truncation=True, return_tensors="pt").input_ids
    out = enc["clip"](input_ids=ids)
    return out.pooler_output if level == "document" else out.last_hidden_state


def train_projection(base: str, text_encoder: str, prompts: str, out: str, level: str = "token", max_steps: int = 1000,
                     batch_size: int = 32, lr: float = 1e-4, seed: int = 0, allow_pickle: bool = False,
                     log: Callable[[str], None] = print) -> Path:
    if level not in ("token", "document"):
        raise InputError("--level must be token or document")
    if not text_encoder:
        raise InputError("textual-projection needs --text-encoder (the domain encoder folder)")
    enc = load_encoders(base, text_encoder, allow_pickle)
    captions = [p.text for p in sorted(PromptSet.from_csv(prompts).prompts.values(), key=lambda p: p.prompt_id)]
    torch.manual_seed(seed)
    projection = Projection(enc["domain"].config.hidden_size, enc["clip"].config.hidden_size)
    optimizer = torch.optim.AdamW(projection.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    losses = []
    for step in range(max_steps):
        idx = torch.randint(0, len(captions), (min(batch_size, len(captions)),), generator=g).tolist()
        texts = [captions[i] for i in idx]
        with torch.no_grad():
            source, mask = domain_states(enc, texts, level)
            target = clip_states(enc, texts, level)
        error = (projection(source) - target) ** 2
        loss = (error.mean(-1) * mask).sum() / mask.sum() if level == "token" else error.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if (step + 1) % 50 == 0 or step + 1 == max_steps:
            log(f"step {step + 1}/{max_steps} projection loss {sum(losses[-50:]) / len(losses[-50:]):.4f}")
    from safetensors.torch import save_file

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in projection.state_dict().items()}, str(folder / "projection.safetensors"))
    atomic_write_text(folder / "projection.json", json.dumps(
        {"base": str(Path(base).resolve()), "text_encoder": str(Path(text_encoder).resolve()), "level": level,
         "d_in": enc["domain"].config.hidden_size, "d_out": enc["clip"].config.hidden_size, "steps": max_steps,
         "seed": seed, "final_loss": losses[-1], "captions": len(captions)}, indent=2) + "\n")
    return folder
