"""What every labeller does: texts in, an (n, 14) array of CheXpert labels out (1 positive, 0 negative,
−1 uncertain, NaN not mentioned), columns in `CHEXPERT_14` order."""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ...data.labels import CHEXPERT_14
from ...errors import InputError
from ..base import Model


class Labeller(Model):
    kind = "labeller"
    classes: ClassVar[tuple[str, ...]] = CHEXPERT_14

    def __init__(self, location: str | None = None, device: str = "cpu", allow_pickle: bool = False, **_: Any):
        super().__init__(device=device, allow_pickle=allow_pickle)
        self.location = location

    def labels_key(self) -> str:
        return self.key(classes=list(self.classes))

    def label(self, texts: list[str]) -> np.ndarray:
        out = np.asarray(self.annotate(texts), dtype=np.float32)
        if out.shape != (len(texts), len(self.classes)):
            raise InputError(f"labeller {self.name} returned labels of shape {out.shape} for {len(texts)} texts "
                             f"and {len(self.classes)} classes")
        return out

    def annotate(self, texts: list[str]) -> Any:
        raise NotImplementedError
