"""The evaluation context: subjects (what is evaluated), the features of an image set, and the context
of cached providers that metrics draw from. It sits below the metrics; the runner that turns a subject,
a profile and metrics into one results object is `cxrgen_bench.scoring`.

Names are imported on first use (PEP 562), so importing the package does not pull in torch."""
from importlib import import_module
from typing import Any

_WHERE = {"EvaluationContext": "context", "RunOptions": "context", "ImageSetSubject": "subjects",
          "StudySubject": "subjects", "Subject": "subjects", "TextEncoderSubject": "subjects"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
