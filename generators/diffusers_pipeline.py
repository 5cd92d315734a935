"""Any diffusers text-to-image pipeline folder (SD 1.x/2.x, RoentGen, SDXL, SD3, PixArt, Sana, ...).

Safe loading: weights must be safetensors unless the user passes `allow_pickle` (the refusal names
the file); components whose code would come from the checkpoint folder (a library other than
diffusers/transformers in model_index.json) are refused, and remote code is never trusted. The
safety checker is off (it flags most medical prompts, as seeds/000 §4.1 notes).

Noise: each image's initial latents are drawn on the CPU from its own generator seeded with the
sample's seed, then moved to the device, so images do not depend on batch size, batch order, GPU
count or device type (up to floating-point kernel differences between devices).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from cxrgen_bench.errors import InputError
from cxrgen_bench.generation.protocol import GenerationSettings, Generator, SampleRequest
from cxrgen_bench.models.folders import check_pipeline_folder, folder_sha256

SCHEDULER_CLASSES = {"pndm": "PNDMScheduler", "ddim": "DDIMScheduler", "dpm++2m": "DPMSolverMultistepScheduler",
                     "euler": "EulerDiscreteScheduler", "euler-a": "EulerAncestralDiscreteScheduler",
                     "unipc": "UniPCMultistepScheduler", "ddpm": "DDPMScheduler"}


class DiffusersGenerator(Generator):
    name = "diffusers"
    version = "1"

    def __init__(self, model: str | None = None, settings: GenerationSettings | None = None, **options: Any):
        super().__init__(model, settings, **options)
        import torch
        import diffusers

        if not model:
            raise InputError("the diffusers generator needs --model PIPELINE_FOLDER")
        self.folder = Path(model)
        check_pipeline_folder(self.folder, self.settings.allow_pickle)
        self.device = self._device(torch)
        self.dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[self._precision()]
        self.pipe = diffusers.DiffusionPipeline.from_pretrained(
            # None (with --allow-pickle): prefer safetensors, fall back to .bin; True: safetensors only
            str(self.folder), torch_dtype=self.dtype, use_safetensors=None if self.settings.allow_pickle else True,
            safety_checker=None, requires_safety_checker=False)
        scheduler_cls = getattr(diffusers, SCHEDULER_CLASSES[self.settings.scheduler])
        self.pipe.scheduler = scheduler_cls.from_config(self.pipe.scheduler.config)
        self.pipe.set_progress_bar_config(disable=True)
        self.pipe.to(self.device)
        self.denoiser = getattr(self.pipe, "unet", None) or getattr(self.pipe, "transformer")
        if self.device.type == "cuda":
            self.denoiser.to(memory_format=torch.channels_last)
        if options.get("fuse_qkv", self.settings.compile) and hasattr(self.pipe, "fuse_qkv_projections"):
            # One projection GEMM instead of three in every self-attention (same function, fewer launches).
            self.pipe.fuse_qkv_projections(unet=True, vae=False)
        if self.settings.compile:
            # The mode benchmarks/gpu_generation.py measured best (benchmarks/README.md, "GPU generation").
            self.denoiser.forward = torch.compile(self.denoiser.forward,
                                                  mode=options.get("compile_mode", "max-autotune-no-cudagraphs"))
        self._sha: str | None = None

    def _device(self, torch):
        import os

        if self.settings.device != "auto":
            return torch.device(self.settings.device)
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")

    def _precision(self) -> str:
        if self.settings.precision != "auto":
            return self.settings.precision
        return "fp16" if self.device.type == "cuda" else "fp32"

    def weights_sha256(self) -> str:
        if self._sha is None:
            self._sha = folder_sha256(self.folder)
        return self._sha

    def latents(self, requests: Sequence[SampleRequest]):
        import torch

        channels = self.denoiser.config.in_channels
        scale = getattr(self.pipe, "vae_scale_factor", 8)
        side = self.settings.resolution // scale
        generators = [torch.Generator("cpu").manual_seed(r.seed) for r in requests]
        noise = torch.stack([torch.randn((channels, side, side), generator=g, dtype=torch.float32) for g in generators])
        return noise.to(self.device, self.dtype), generators

    def generate(self, requests: Sequence[SampleRequest]) -> list[Any]:
        import torch

        latents, generators = self.latents(requests)
        chunk = self.settings.vae_batch_size
        with torch.inference_mode():
            out = self.pipe(prompt=[r.text for r in requests], num_inference_steps=self.settings.steps,
                            guidance_scale=self.settings.guidance_scale, height=self.settings.resolution,
                            width=self.settings.resolution, latents=latents, generator=generators,
                            output_type="latent" if chunk else "np")
            if not chunk:
                return list(out.images)
            # Decoding a large batch at 512² dominates peak memory: decode in chunks instead.
            vae = self.pipe.vae
            images = []
            for start in range(0, len(requests), chunk):
                part = out.images[start:start + chunk] / vae.config.scaling_factor
                decoded = vae.decode(part.to(vae.dtype), return_dict=False)[0]
                images.extend(self.pipe.image_processor.postprocess(decoded, output_type="np"))
        return images

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(pipeline=type(self.pipe).__name__, dtype=str(self.dtype).replace("torch.", ""),
                    device=str(self.device), scheduler=type(self.pipe.scheduler).__name__)
        return info
