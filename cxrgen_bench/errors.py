"""Errors that speak the user's language: each names the file, row, weight or class at fault
and says what to do. The CLI turns them into a one-paragraph message and their exit code (2 unless
the error says otherwise)."""
from __future__ import annotations

from pathlib import Path


class CxrgenError(Exception):
    """Base class: anything the user can fix (bad input, missing weights, wrong config)."""

    exit_code = 2  # the CLI's "unusable input, nothing written"


class InputError(CxrgenError):
    """An image, manifest, prompt file or argument is unusable."""


class WeightsError(CxrgenError):
    """A weights file is missing, has the wrong sha256 or keys, or would need unpickling."""


class WeightsNotFound(WeightsError):
    """No file for a model was found where a run looks (`models.weights.resolve_weights`): ``accepted``
    names the files that would do, for summaries that list each missing model once."""

    def __init__(self, message: str, model: str = "", accepted: tuple[str, ...] = ()):
        super().__init__(message)
        self.model, self.accepted = model, tuple(accepted)


class ModelUnavailable(CxrgenError):
    """A model that failed to load earlier in the same run: named again without loading it again, and
    without repeating the whole message (`full`, said once in the log and kept in the results)."""

    def __init__(self, model: str, cause: CxrgenError):
        self.model, self.cause = model, cause
        self.full = str(cause)
        first = self.full.splitlines()[0] if self.full else type(cause).__name__
        accepted = getattr(cause, "accepted", ())
        files = f"accepted files: {', '.join(accepted)}; " if accepted else ""
        super().__init__(f"{first} ({files}the results' run.unavailable_models[{model!r}] says where to put "
                         "them, as does `cxrgen-bench weights status`)")
        self.brief = f"not computed: {model} is unavailable (said above)"


class MetricError(CxrgenError):
    """A metric cannot be computed on the given data (too few samples, images too small...)."""


class RegistryError(CxrgenError):
    """An unknown or duplicated plug-in name."""


class ResultsError(CxrgenError):
    """A results file does not validate against the schema."""


class ResultsNotWritten(CxrgenError):
    """Computed results could not be written where asked (a full disk, a folder that became read-only).
    They were saved to ``fallback`` instead, or, when that failed too, are kept in ``text`` for the
    caller to print: hours of computed metrics are never thrown away."""

    exit_code = 1  # results exist, but not as asked: like a partial result, look before trusting the run

    def __init__(self, path: Path, cause: OSError, fallback: Path | None, text: str):
        self.path, self.fallback, self.text = path, fallback, text
        kept = (f"the computed results were saved to {fallback} instead; move them where you want them"
                if fallback else "they could not be saved elsewhere either and are printed on standard output")
        super().__init__(f"could not write the results to {path}: {cause.strerror or cause}; {kept}")
