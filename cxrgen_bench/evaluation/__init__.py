"""The evaluation core: subjects (what is evaluated), the context of cached providers metrics draw
from, and the runner that turns a subject, a profile and metrics into one validated results object.

Names are imported on first use (PEP 562), so light modules of this package (`checks`, which every
command's flag checks import) do not pull in torch and the metrics."""
from importlib import import_module
from typing import Any

_WHERE = {"EvaluationContext": "context", "RunOptions": "context", "ImageSetSubject": "subjects",
          "StudySubject": "subjects", "Subject": "subjects", "TextEncoderSubject": "subjects"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
