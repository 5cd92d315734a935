"""`real`: the reference radiographs themselves, one per prompt (the upper-bound row of Tables 3–4).
Needs a prompts CSV with `image_path` and `--model` = the dataset root those paths are relative to."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cxrgen_bench.data.images import read_image
from cxrgen_bench.errors import InputError
from cxrgen_bench.generation.protocol import GenerationSettings, Generator, SampleRequest


class RealImages(Generator):
    name = "real"

    def __init__(self, model: str | None = None, settings: GenerationSettings | None = None,
                 image_paths: dict[str, str] | None = None, **options: Any):
        super().__init__(model, settings, **options)
        if self.settings.samples_per_prompt != 1:
            raise InputError("the real generator has one image per prompt: use --samples-per-prompt 1")
        if not model or not image_paths:
            raise InputError("the real generator needs --model DATASET_ROOT and a prompts CSV with an image_path column")
        self.root = Path(model)
        self.image_paths = image_paths

    def generate(self, requests: Sequence[SampleRequest]) -> list[Any]:
        out = []
        for r in requests:
            rel = self.image_paths.get(r.prompt_id)
            if not rel:
                raise InputError(f"prompt {r.prompt_id!r} has no image_path in the prompts CSV")
            pixels = read_image(self.root / rel).pixels  # DICOM/16-bit aware; saved as 8-bit PNG
            out.append(np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8))
        return out
