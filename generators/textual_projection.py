"""`textual-projection`: a base SD pipeline conditioned through a frozen domain text encoder and a
trained projection into CLIP's space (seeds/001 §2.5; train with `cxrgen-bench train
textual-projection`). --model is the folder with projection.safetensors and projection.json."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors.torch import load_file

from cxrgen_bench.errors import InputError
from cxrgen_bench.generation.protocol import GenerationSettings, SampleRequest

from .diffusers_pipeline import DiffusersGenerator
from .roentgen.projection import Projection, domain_states, load_encoders


class TextualProjectionGenerator(DiffusersGenerator):
    name = "textual-projection"

    def __init__(self, model: str | None = None, settings: GenerationSettings | None = None, **options: Any):
        folder = Path(model or "")
        if not (folder / "projection.json").is_file():
            raise InputError(f"{folder}: no projection.json; train one with cxrgen-bench train textual-projection")
        self.spec = json.loads((folder / "projection.json").read_text())
        super().__init__(self.spec["base"], settings, **options)
        self.model = str(folder)
        enc = load_encoders(self.spec["base"], self.spec["text_encoder"], self.settings.allow_pickle)
        self.encoders = enc
        self.projection = Projection(self.spec["d_in"], self.spec["d_out"])
        self.projection.load_state_dict(load_file(str(folder / "projection.safetensors")))
        self.projection.eval()

    def embed(self, texts: list[str]) -> torch.Tensor:
        with torch.no_grad():
            states, _ = domain_states(self.encoders, texts, self.spec["level"])
            projected = self.projection(states)
        if self.spec["level"] == "document":  # one vector conditions every position
            projected = projected[:, None, :].expand(-1, 77, -1)
        return projected.to(self.device, self.dtype)

    def generate(self, requests: Sequence[SampleRequest]) -> list[Any]:
        latents, generators = self.latents(requests)
        with torch.inference_mode():
            out = self.pipe(prompt_embeds=self.embed([r.text for r in requests]),
                            negative_prompt_embeds=self.embed([""] * len(requests)),
                            num_inference_steps=self.settings.steps, guidance_scale=self.settings.guidance_scale,
                            height=self.settings.resolution, width=self.settings.resolution, latents=latents,
                            generator=generators, output_type="np")
        return list(out.images)
