"""The training methods `cxrgen-bench train METHOD` offers, as registered trainers.

A trainer declares its flags (`add_arguments`) and runs from the parsed namespace (`run`), so the
command line reaches the trainer only through the `trainers` registry. Building the parser imports
nothing heavy: torch and diffusers are imported when a method runs.
"""
from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import ClassVar

from .config import TrainConfig, add_arguments


class FineTune:
    """The reference trainer's loop (train.py); one registered trainer per method."""

    method: ClassVar[str] = "roentgen"
    help: ClassVar[str] = "full fine-tuning of Stable Diffusion on CXR image/report pairs (the paper's RoentGen)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_arguments(parser)

    def run(self, args: argparse.Namespace) -> str:
        from .train import train

        cfg = TrainConfig(method=self.method, **{f.name: getattr(args, f.name) for f in fields(TrainConfig)
                                                  if f.name != "method"})
        out = train(cfg)
        return f"trained pipeline: {out} (load it with: cxrgen-bench generate --generator diffusers --model {out} ...)"

    def export_checkpoint(self, checkpoint: str | Path, out: str | Path) -> Path:
        """A checkpoint of this trainer's runs as a diffusers pipeline folder (`cxrgen-bench sweep` generates
        from it): reached through the `trainers` registry, so the library never imports the plug-in."""
        from .export import export_checkpoint

        return export_checkpoint(checkpoint, out)


class DreamBooth(FineTune):
    method = "dreambooth"
    help = "DreamBooth fine-tuning of the U-Net, optionally with prior preservation (seeds/000 baseline)"


class LoRA(FineTune):
    method = "lora"
    help = "DreamBooth + LoRA adapters on the U-Net's attention (seeds/002)"


class TextualInversion(FineTune):
    method = "textual-inversion"
    help = "one new token whose embedding alone is trained (seeds/001 baseline)"


class TextualProjection:
    """seeds/001's textual projection: an MLP maps a domain encoder's states into CLIP's space."""

    method = "textual-projection"
    help = "train an MLP mapping a domain text encoder's output into the SD text encoder's space (seeds/001)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--base", required=True, help="base diffusers pipeline folder (SD 1.4 in the paper)")
        parser.add_argument("--text-encoder", "--domain-encoder", dest="text_encoder", required=True,
                            help="the domain text encoder folder (transformers format), e.g. CXR-BERT")
        parser.add_argument("--prompts", required=True, help="prompts CSV whose texts are the training captions")
        parser.add_argument("--out", required=True, help="output folder (projection.safetensors + projection.json)")
        parser.add_argument("--level", default="token", choices=("token", "document"),
                            help="map every token state (token) or the pooled document state (document)")
        parser.add_argument("--max-steps", type=int, default=1000, help="optimizer steps (default: 1000)")
        parser.add_argument("--batch-size", type=int, default=32, help="captions per step (default: 32)")
        parser.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate (default: 1e-4)")
        parser.add_argument("--seed", type=int, default=0, help="seed of initialisation and caption sampling")
        parser.add_argument("--allow-pickle", action="store_true", help="accept pickle weights in --base")

    def run(self, args: argparse.Namespace) -> str:
        from .projection import train_projection

        out: Path = train_projection(args.base, args.text_encoder, args.prompts, args.out, level=args.level,
                                     max_steps=args.max_steps, batch_size=args.batch_size, lr=args.lr,
                                     seed=args.seed, allow_pickle=args.allow_pickle)
        return f"trained projection: {out} (generate with --generator textual-projection --model {out})"
