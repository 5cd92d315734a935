"""Errors that speak the user's language: each names the file, row, weight or class at fault
and says what to do. The CLI turns them into a one-paragraph message and exit code 2."""


class CxrgenError(Exception):
    """Base class: anything the user can fix (bad input, missing weights, wrong config)."""


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
