"""Image/prompt pairs for training: a prompts CSV (prompt_id, text, image_path) + an images root.

Images go through the same reader as scoring (DICOM, 16-bit PNG, JPEG → grayscale float), are resized
so the shorter side is `resolution` (bicubic) and centre-cropped, as the paper did at 512², then
replicated to 3 channels in [−1, 1]. The order is a seeded permutation per epoch, so a run is
reproducible and a resumed run continues at the exact sample where it stopped.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cxrgen_bench.data.images import read_image
from cxrgen_bench.data.manifest import PromptSet
from cxrgen_bench.errors import InputError


class PairDataset(torch.utils.data.Dataset):
    def __init__(self, prompts: str | Path | PromptSet, images_root: str | Path, tokenizer, resolution: int = 512):
        self.prompts = prompts if isinstance(prompts, PromptSet) else PromptSet.from_csv(prompts)
        self.items = sorted(self.prompts.prompts.values(), key=lambda p: p.prompt_id)
        missing = [p.prompt_id for p in self.items if not p.image_path]
        if missing:
            raise InputError(f"{self.prompts.path}: training needs an image_path for every prompt; "
                             f"{len(missing)} lack one (e.g. {missing[0]})")
        self.root = Path(images_root)
        for p in self.items:
            if not (self.root / p.image_path).is_file():
                raise InputError(f"{self.prompts.path}: prompt {p.prompt_id}: image {self.root / p.image_path} not found")
        self.tokenizer = tokenizer
        self.resolution = resolution

    def __len__(self) -> int:
        return len(self.items)

    def pixels(self, path: Path) -> torch.Tensor:
        gray = read_image(path).pixels
        img = Image.fromarray(gray)
        h, w = gray.shape
        scale = self.resolution / min(h, w)
        img = img.resize((max(self.resolution, round(w * scale)), max(self.resolution, round(h * scale))),
                         Image.Resampling.BICUBIC)
        left = (img.width - self.resolution) // 2
        top = (img.height - self.resolution) // 2
        arr = np.asarray(img.crop((left, top, left + self.resolution, top + self.resolution)), np.float32)
        x = torch.from_numpy(np.clip(arr, 0, 1) * 2 - 1)
        return x[None].expand(3, -1, -1).contiguous()

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        ids = self.tokenizer(item.text, max_length=self.tokenizer.model_max_length, padding="max_length",
                             truncation=True, return_tensors="pt").input_ids[0]
        return {"pixel_values": self.pixels(self.root / item.image_path), "input_ids": ids, "index": index}


@lru_cache(maxsize=2)  # the training loop asks once per sample; an epoch's order is computed once
def epoch_order(n: int, seed: int, epoch: int) -> tuple[int, ...]:
    """The sample order of an epoch: a permutation seeded by (seed, epoch) only."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return tuple(torch.randperm(n, generator=g).tolist())


def sample_generator(seed: int, step: int, sample: int) -> torch.Generator:
    """The noise and timestep of one training sample depend on (seed, step, global sample index) only,
    so a run gives the same updates with 1 or N processes at the same global batch."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 65_537 + sample)
