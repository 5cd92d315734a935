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
