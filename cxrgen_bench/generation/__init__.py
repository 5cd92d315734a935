"""The generator protocol and the resumable, shardable generation harness."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .protocol import GenerationSettings, Generator, SampleRequest, sample_seed


def generate(generator: str = "diffusers", model: str | None = None, prompts: Any = None, out: str | Path = "generated",
             profile: Any = "roentgen2022", progress: bool = True, shard: Any = None, **settings: Any) -> dict[str, Any]:
    """Generate images for a prompt set with a registered generator; returns the run summary.

    ``settings`` are `GenerationSettings` fields (steps, guidance_scale, resolution, seed, ...);
    unset ones come from the profile's `generation` block. ``shard``: this process's `harness.Shard` of the
    prompts (default: its share under torchrun; ``Shard()`` makes one process generate them all, as a
    study's unit does while other ranks run other units)."""
    from ..data.manifest import PromptSet
    from ..errors import InputError
    from ..profiles import get_profile
    from ..registry import GENERATORS
    from .harness import run_generation

    if prompts is None:
        raise InputError("generate needs --prompts (a CSV with prompt_id and text)")
    prompt_set = prompts if isinstance(prompts, PromptSet) else PromptSet.from_csv(prompts)
    prof = get_profile(profile)
    if prof.generation.get("max_prompts"):
        prompt_set = prompt_set.subset(int(prof.generation["max_prompts"]))
    run_settings = GenerationSettings.from_profile(prof.generation, **settings)
    image_paths = {pid: p.image_path for pid, p in prompt_set.prompts.items() if p.image_path}
    gen = GENERATORS.get(generator)(model, run_settings, image_paths=image_paths)
    return run_generation(gen, prompt_set, out, run_settings, shard=shard, progress=progress)


__all__ = ["GenerationSettings", "Generator", "SampleRequest", "generate", "sample_seed"]
