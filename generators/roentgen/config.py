"""The trainer's settings: one dataclass, every field a `cxrgen-bench train` flag with its help text.
Kept free of heavy imports so that building the command line does not import torch."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields

from cxrgen_bench.errors import InputError

METHODS = ("roentgen", "dreambooth", "lora", "textual-inversion")


@dataclass
class TrainConfig:
    """Every flag of `cxrgen-bench train` (help text in `metadata`)."""

    method: str = field(default="roentgen", metadata={"help": f"one of {', '.join(METHODS)}"})
    base: str = field(default="", metadata={"help": "base diffusers pipeline folder (SD 1.4 in the paper)"})
    prompts: str = field(default="", metadata={"help": "prompts CSV with prompt_id, text, image_path"})
    images_root: str = field(default=".", metadata={"help": "folder the image_path values are relative to"})
    out: str = field(default="", metadata={"help": "output pipeline folder (checkpoints/ inside; re-run resumes)"})
    lr: float = field(default=5e-5, metadata={"help": "learning rate (paper: 5e-5 best, 1e-4)"})
    max_steps: int = field(default=1000, metadata={"help": "optimizer steps (paper: 1k, 12.5k, 60k)"})
    warmup_steps: int = field(default=0, metadata={"help": "linear warm-up steps"})
    lr_scheduler: str = field(default="constant", metadata={"help": "constant, linear or cosine after warm-up"})
    batch_size: int = field(default=8, metadata={"help": "samples per device and step (paper: 8 per GPU)"})
    gradient_accumulation: int = field(default=1, metadata={"help": "micro-batches per optimizer step"})
    mixed_precision: str = field(default="no", metadata={"help": "no (fp32), fp16 or bf16"})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "trade compute for activation memory"})
    ema: bool = field(default=False, metadata={"help": "keep an exponential moving average of trained weights"})
    ema_decay: float = field(default=0.9999, metadata={"help": "EMA decay per step"})
    seed: int = field(default=0, metadata={"help": "seed of data order, noise and timesteps"})
    resolution: int = field(default=512, metadata={"help": "training image side (paper: 512)"})
    num_workers: int = field(default=4, metadata={"help": "threads decoding and resizing images (order stays fixed)"})
    checkpoint_every: int = field(default=500, metadata={"help": "steps between resumable checkpoints"})
    keep_checkpoints: int = field(default=3, metadata={"help": "most recent checkpoints kept"})
    train_text_encoder: bool = field(default=False, metadata={"help": "(roentgen) train the CLIP text encoder jointly"})
    freeze_text_encoder: bool = field(default=False, metadata={"help": "(roentgen) keep the text encoder frozen (default)"})
    text_encoder: str = field(default="", metadata={"help": "(roentgen) domain text encoder folder replacing CLIP"})
    unet_init: str = field(default="pretrained", metadata={"help": "pretrained or random (the paper's Rnd U-Net)"})
    rank: int = field(default=8, metadata={"help": "(lora) adapter rank"})
    token: str = field(default="<chest-xray>", metadata={"help": "(textual-inversion) the new token"})
    initializer_token: str = field(default="chest", metadata={"help": "(textual-inversion) its initial embedding"})
    prior_preservation: bool = field(default=False, metadata={"help": "(dreambooth) add the class prior loss"})
    class_prompt: str = field(default="a chest x-ray", metadata={"help": "(dreambooth) prompt of the class images"})
    num_class_images: int = field(default=16, metadata={"help": "(dreambooth) class images made by the base model"})
    class_steps: int = field(default=50, metadata={"help": "(dreambooth) denoising steps for class images"})
    prior_loss_weight: float = field(default=1.0, metadata={"help": "(dreambooth) weight of the prior loss"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping"})
    weight_decay: float = field(default=1e-2, metadata={"help": "AdamW weight decay"})
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda (accelerate places processes)"})
    allow_pickle: bool = field(default=False, metadata={"help": "accept pickle (.bin/.ckpt) weights in --base"})
    validation_prompts: str = field(default="", metadata={
        "help": "prompts CSV generated through the harness every --validation-every steps"})
    validation_every: int = field(default=0, metadata={"help": "steps between validation generations (0: never)"})
    validation_reference: str = field(default="", metadata={"help": "reference image folder for validation metrics"})
    validation_metrics: str = field(default="", metadata={
        "help": "metrics scored on validation images, e.g. fid[inception-v3-fid],ms_ssim (needs the reference)"})
    tensorboard: bool = field(default=False, metadata={"help": "log loss, lr and validation metrics to OUT/logs"})
    save_text_encoder_every_checkpoint: bool = field(default=True, metadata={
        "help": "keep the text encoder at each checkpoint (for CheXpert@k forgetting/gain curves, Table 6)"})

    def validate(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"unknown training method {self.method!r}; choose from {', '.join(METHODS)}")
        for name in ("base", "prompts", "out"):
            if not getattr(self, name):
                raise InputError(f"train {self.method} needs --{name.replace('_', '-')}")
        if self.train_text_encoder and (self.freeze_text_encoder or self.method != "roentgen"):
            raise InputError("--train-text-encoder applies to the roentgen method, without --freeze-text-encoder")
        if self.unet_init not in ("pretrained", "random") or self.lr_scheduler not in ("constant", "linear", "cosine"):
            raise InputError("--unet-init must be pretrained or random; --lr-scheduler constant, linear or cosine")
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise InputError("--mixed-precision must be no, fp16 or bf16")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for f in fields(TrainConfig):
        if f.name == "method":
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action="store_true", help=f.metadata["help"])
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            parser.add_argument(flag, type=kind, default=f.default, help=f"{f.metadata['help']} (default: {f.default})")


