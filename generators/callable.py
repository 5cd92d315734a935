"""`callable`: a Python function "module:function" that takes a list of SampleRequest and returns
one image per request (PIL image, uint8 array, or floats in [0, 1])."""
from __future__ import annotations

from typing import Any, Sequence

from cxrgen_bench.errors import InputError
from cxrgen_bench.generation.protocol import GenerationSettings, Generator, SampleRequest
from cxrgen_bench.registry import import_target


class CallableGenerator(Generator):
    name = "callable"

    def __init__(self, model: str | None = None, settings: GenerationSettings | None = None, **options: Any):
        super().__init__(model, settings, **options)
        if not model or ":" not in model:
            raise InputError("the callable generator needs --model module:function")
        try:
            self.function = import_target(model)
        except (ImportError, AttributeError) as exc:
            raise InputError(f"--model {model}: cannot import: {exc}") from exc

    def generate(self, requests: Sequence[SampleRequest]) -> list[Any]:
        return list(self.function(list(requests)))
