"""The generator protocol: what a text-to-image CXR generator must do to be scored.

A generator receives sample requests (prompt id, prompt text, labels, sample index, and the seed
of that sample) and returns one image per request, in order. It may batch however it likes, but
the image of a request must depend on the request alone (its seed comes from
`sample_seed(global seed, prompt id, sample index)`), so the same image comes out whatever the
batch size, batch order, resume point or number of GPUs. `describe()` gives what the results
file records: name, version, weights hash and settings.

A minimal third-party generator (registered under the entry-point group `cxrgen_bench.generators`)::

    class MyGenerator(Generator):
        name = "my-generator"

        def __init__(self, model=None, settings=None, **options):
            super().__init__(model, settings, **options)
            self.net = load_my_network(model)

        def generate(self, requests):
            return [self.net.sample(r.text, seed=r.seed) for r in requests]   # PIL images or uint8 arrays
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from ..errors import InputError


def sample_seed(global_seed: int, prompt_id: str, sample_idx: int) -> int:
    """The seed of one image: a function of (global seed, prompt id, sample index) only."""
    digest = hashlib.sha256(f"{global_seed}\x1f{prompt_id}\x1f{sample_idx}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


@dataclass(frozen=True)
class SampleRequest:
    prompt_id: str
    text: str
    sample_idx: int
    seed: int
    labels: Mapping[str, float | None] = field(default_factory=dict)


SCHEDULERS = ("pndm", "ddim", "dpm++2m", "euler", "euler-a", "unipc", "ddpm")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")


@dataclass
class GenerationSettings:
    """Every flag of a generation run; profile values are the defaults (roentgen2022: PNDM, 75 steps,
    guidance 4, 512², 4 samples per prompt)."""

    samples_per_prompt: int = 4
    steps: int = 75
    guidance_scale: float = 4.0
    resolution: int = 512
    scheduler: str = "pndm"
    precision: str = "auto"
    seed: int = 0
    batch_size: int = 8
    device: str = "auto"
    compile: bool = False
    vae_batch_size: int | None = None
    allow_pickle: bool = False

    @classmethod
    def from_profile(cls, profile_generation: Mapping[str, Any] | None, **overrides: Any) -> "GenerationSettings":
        values = {k: v for k, v in dict(profile_generation or {}).items() if k in cls.__dataclass_fields__}
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.samples_per_prompt < 1:
            raise InputError("--samples-per-prompt must be at least 1")
        if self.steps < 1 or self.batch_size < 1 or self.resolution < 8:
            raise InputError("--steps, --batch-size must be ≥ 1 and --resolution ≥ 8")
        if self.scheduler not in SCHEDULERS:
            raise InputError(f"--scheduler {self.scheduler!r} unknown; choose from {', '.join(SCHEDULERS)}")
        if self.precision not in PRECISIONS:
            raise InputError(f"--precision {self.precision!r} unknown; choose from {', '.join(PRECISIONS)}")

    def image_defining(self) -> dict[str, Any]:
        """The settings that change pixels (batch size, device and compile must not; they are excluded)."""
        d = asdict(self)
        for key in ("batch_size", "device", "compile", "vae_batch_size", "allow_pickle"):
            d.pop(key)
        return d


class Generator:
    """Base class of registered generators."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"

    def __init__(self, model: str | None = None, settings: GenerationSettings | None = None, **options: Any):
        self.model = model
        self.settings = settings or GenerationSettings()
        self.options = options

    def generate(self, requests: Sequence[SampleRequest]) -> list[Any]:
        raise NotImplementedError

    def weights_sha256(self) -> str | None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "model": self.model,
                "weights_sha256": self.weights_sha256(), "settings": asdict(self.settings)}


def to_uint8(image: Any, where: str) -> np.ndarray:
    """PIL image / uint8 array / float array in [0, 1] → uint8 (H, W) or (H, W, 3) array."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.floating):
            raise InputError(f"{where}: generator returned {arr.dtype} pixels; return uint8 or floats in [0, 1]")
        if not np.isfinite(arr).all():
            raise InputError(f"{where}: generator returned NaN/inf pixels (a diverged model or fp16 overflow?)")
        arr = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise InputError(f"{where}: generator returned an image of shape {arr.shape}")
    return arr
