"""`folder`: images generated elsewhere, with a manifest.csv or in the RoentGen eval layout
`{prompt_id}_{k}.png|jpg`, served through the same protocol (e.g. to re-check or re-layout them)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from PIL import Image

from cxrgen_bench.data.manifest import ImageSet
from cxrgen_bench.errors import InputError
from cxrgen_bench.generation.protocol import GenerationSettings, Generator, SampleRequest


class FolderGenerator(Generator):
    name = "folder"

    def __init__(self, model: str | None = None, settings: GenerationSettings | None = None, **options: Any):
        super().__init__(model, settings, **options)
        if not model:
            raise InputError("the folder generator needs --model IMAGE_FOLDER")
        self.image_set = ImageSet.from_folder(model)
        self.index = {(r.prompt_id, r.sample_idx): r for r in self.image_set.records}

    def weights_sha256(self) -> str:
        return self.image_set.content_sha256  # the images are the model here

    def generate(self, requests: Sequence[SampleRequest]) -> list[Any]:
        out = []
        for r in requests:
            record = self.index.get((r.prompt_id, r.sample_idx))
            if record is None:
                raise InputError(f"{self.model}: no image for prompt {r.prompt_id!r} sample {r.sample_idx}")
            with Image.open(record.path) as img:
                out.append(np.asarray(img.convert("RGB") if img.mode not in ("L", "RGB") else img))
        return out
