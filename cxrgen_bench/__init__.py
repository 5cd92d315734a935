"""cxrgen-bench: score text-to-image chest X-ray generators with the RoentGen evaluation framework."""
from __future__ import annotations

from typing import Any

from .version import __version__


def score(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Score an image set (see `cxrgen_bench.scoring.runner.score`); imported lazily to keep `import` light."""
    from .scoring.runner import score as _score

    return _score(*args, **kwargs)


def score_checkpoints(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Score the text encoder of every checkpoint of a training run (see
    `cxrgen_bench.scoring.runner.score_checkpoints`): CheXpert@k over training steps."""
    from .scoring.runner import score_checkpoints as _score_checkpoints

    return _score_checkpoints(*args, **kwargs)


def generate(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Generate an image set with a registered generator (see `cxrgen_bench.generation.generate`)."""
    from .generation import generate as _generate

    return _generate(*args, **kwargs)


__all__ = ["__version__", "generate", "score", "score_checkpoints"]
