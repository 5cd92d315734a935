"""What every report generator does: canonical images (float32 (H, W) in [0, 1], see
`cxrgen_bench.data.images`) in, one impression per image out, deterministically (decoding settings
are part of its cache key: beam size, maximum length, no sampling)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ...errors import InputError
from ..base import Model


class ReportGenerator(Model):
    kind = "report-generator"

    def __init__(self, location: str | None = None, settings: Mapping[str, Any] | None = None, device: str = "cpu",
                 allow_pickle: bool = False, **_: Any):
        super().__init__(device=device, allow_pickle=allow_pickle)
        self.location = location
        self.settings = dict(settings or {})

    def report_key(self) -> str:
        return self.key(settings=self.settings)

    def generate(self, images: list[np.ndarray]) -> list[str]:
        texts = self.write(images)
        if not isinstance(texts, (list, tuple)) or len(texts) != len(images):
            got = len(texts) if isinstance(texts, (list, tuple)) else type(texts).__name__
            raise InputError(f"report generator {self.name} returned {got} reports for {len(images)} images")
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise InputError(f"report generator {self.name} returned a {type(texts[bad[0]]).__name__} instead of a "
                             f"string for image {bad[0]} of the batch")
        return [str(t) for t in texts]

    def write(self, images: list[np.ndarray]) -> list[str]:
        raise NotImplementedError
