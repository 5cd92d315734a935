"""A trainer checkpoint as a diffusers pipeline folder: the run's base components with the checkpoint's
trained tensors put back (the EMA copy where the run keeps one, as its final pipeline has), LoRA adapters
fused, a textual-inversion token added: the folder the run would have written had it ended at that step.
`cxrgen-bench sweep` generates from it with the `diffusers` generator, like from any pipeline folder."""
from __future__ import annotations

import json
import shutil
from dataclasses import fields
from pathlib import Path

import torch
from safetensors.torch import load_file

from cxrgen_bench.errors import InputError
from cxrgen_bench.training.checkpoint import checkpoint_settings

from .config import TrainConfig


def export_checkpoint(checkpoint: str | Path, out: str | Path) -> Path:
    """Write ``checkpoint``'s pipeline to ``out`` (safetensors); the folder appears only once complete."""
    from .train import config_hash, configure_method, inference_pipeline, load_components

    checkpoint, out = Path(checkpoint), Path(out)
    known = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in checkpoint_settings(checkpoint).items() if k in known})
    info = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
    if info.get("config_sha256") != config_hash(cfg):  # settings from a training.json of another run
        raise InputError(f"{checkpoint}: the recorded trainer settings are not the ones it was trained with "
                         "(config hash differs); it cannot be rebuilt as a pipeline")
    components = load_components(cfg)
    trainable = configure_method(cfg, components)
    tensors = load_file(str(checkpoint / "trainable.safetensors"))
    missing = [n for n in trainable if (f"ema.{n}" if cfg.ema else n) not in tensors]
    if missing:
        raise InputError(f"{checkpoint}/trainable.safetensors lacks {len(missing)} trained tensor(s) of method "
                         f"{cfg.method}, e.g. {missing[0]}")
    with torch.no_grad():
        for name, parameter in trainable.items():
            parameter.copy_(tensors[f"ema.{name}" if cfg.ema else name])
    pipe = inference_pipeline(cfg, components, components.unet, components.text_encoder)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # a killed export's leftovers
    pipe.save_pretrained(str(partial), safe_serialization=True)
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out
