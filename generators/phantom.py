"""Phantom stand-in generators of known quality (the calibration benchmark). They run
through the real harness like any generator; each renders `cxrgen_bench.calibration.phantom`
radiographs:

- phantom-faithful          renders what the prompt says (read with the free-text labeller)
- phantom-ignores-prompt    renders from its own prior, whatever the prompt: mostly normal chests, the
                            failure of a model whose text conditioning does nothing
- phantom-flips-laterality  renders the prompt's findings on the other side
- phantom-mode-collapse     one image per prompt: every sample identical
- phantom-degraded          faithful content, blurred, noisy, with lost contrast
- phantom-ignores-demographics  renders the prompt's findings on a patient of its own choosing: the
                            sex and age the prompt states are ignored (drawn from the sample's seed)
- phantom-underserves-female  faithful, but degraded (as phantom-degraded) whenever the prompt is about a
                            woman: a generator that serves one group worse
- phantom-fails-effusion    faithful, but degraded (as phantom-degraded) whenever the prompt has a pleural
                            effusion: a generator worse at one finding only (per-finding FD must single it out)
- phantom-copies-training   a generator that memorised its training set: each sample is a training image
                            (the folder given as the model), picked by the sample's seed, resized to the
                            generation resolution, with faint noise (a near-copy, not a byte copy)
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar, Sequence

import numpy as np
from PIL import Image, ImageFilter

from cxrgen_bench.calibration.phantom import Findings, random_demographics, random_findings, render
from cxrgen_bench.calibration.reports import findings_from_text
from cxrgen_bench.data.images import read_image
from cxrgen_bench.data.manifest import ImageSet
from cxrgen_bench.errors import InputError
from cxrgen_bench.functional.resize import clean_resize
from cxrgen_bench.generation.protocol import GenerationSettings, Generator, SampleRequest, sample_seed


class PhantomGenerator(Generator):
    name: ClassVar[str] = "phantom-faithful"
    version = "1"
    mode: ClassVar[str] = "faithful"

    def weights_sha256(self) -> str:
        return f"phantom-renderer-v{self.version}-{self.mode}"  # no weights: the renderer is the model

    def one(self, request: SampleRequest) -> np.ndarray:
        seed = sample_seed(0, request.prompt_id, 0) if self.mode == "mode-collapse" else request.seed
        rng = np.random.default_rng(seed)
        if self.mode == "ignores-prompt":
            findings = random_findings(rng) if rng.random() < 0.1 else Findings()
        else:
            findings = findings_from_text(request.text, rng)
        if self.mode == "flips-laterality":
            findings = findings.flipped()
        if self.mode == "ignores-demographics":
            findings = replace(findings, **random_demographics(np.random.default_rng([seed, 104729])))
        image = render(findings, seed, size=self.settings.resolution)
        if self.mode == "degraded" or (self.mode == "underserves-female" and findings.sex == "female") or \
                (self.mode == "fails-effusion" and findings.effusion):
            blurred = Image.fromarray(np.uint8(image * 255)).filter(ImageFilter.GaussianBlur(0.8))
            image = 0.5 + 0.85 * (np.asarray(blurred, np.float32) / 255 - 0.5) + rng.normal(0, 0.025, image.shape)
        return np.clip(image, 0, 1)

    def generate(self, requests: Sequence[SampleRequest]) -> list[Any]:
        return [self.one(r) for r in requests]


class IgnoresPrompt(PhantomGenerator):
    name = "phantom-ignores-prompt"
    mode = "ignores-prompt"


class FlipsLaterality(PhantomGenerator):
    name = "phantom-flips-laterality"
    mode = "flips-laterality"


class ModeCollapse(PhantomGenerator):
    name = "phantom-mode-collapse"
    mode = "mode-collapse"


class Degraded(PhantomGenerator):
    name = "phantom-degraded"
    mode = "degraded"


class IgnoresDemographics(PhantomGenerator):
    name = "phantom-ignores-demographics"
    mode = "ignores-demographics"


class UnderservesFemale(PhantomGenerator):
    name = "phantom-underserves-female"
    mode = "underserves-female"


class FailsEffusion(PhantomGenerator):
    name = "phantom-fails-effusion"
    mode = "fails-effusion"


class CopiesTraining(Generator):
    """The memorisation study's positive control: ``model`` is the training image folder."""

    name = "phantom-copies-training"
    version = "1"
    noise = 0.005  # below 8-bit quantisation's visible level, above zero: a near-copy, as a diffusion model makes

    def __init__(self, model: str | None = None, settings: GenerationSettings | None = None, **options: Any):
        super().__init__(model, settings, **options)
        if not model:
            raise InputError("phantom-copies-training copies a training set: pass its image folder as the model")
        self.training = ImageSet.from_folder(model)

    def weights_sha256(self) -> str:
        return f"copies-of-{self.training.content_sha256}"  # what it copies is its "weights"

    def one(self, request: SampleRequest) -> np.ndarray:
        rng = np.random.default_rng(request.seed)
        record = self.training.records[int(rng.integers(len(self.training.records)))]
        image = read_image(record.path).pixels
        size = self.settings.resolution
        if image.shape != (size, size):
            image = clean_resize(image * 255.0, (size, size)) / 255.0
        return np.clip(image + rng.normal(0, self.noise, image.shape), 0, 1)

    def generate(self, requests: Sequence[SampleRequest]) -> list[Any]:
        return [self.one(r) for r in requests]
