"""`callable`: a Python function ``module:function`` taking a list of canonical images and returning
one report per image. Its "weights" are its code: the sha256 of the module's source file, so editing
the function invalidates cached reports."""
from __future__ import annotations

import hashlib
import inspect
from typing import Any

import numpy as np

from ...errors import InputError, RegistryError
from ...registry import import_target
from .base import ReportGenerator


class CallableReportGenerator(ReportGenerator):
    name = "callable"

    def __init__(self, location: str | None = None, **kwargs: Any):
        super().__init__(location, **kwargs)
        if not location:
            raise InputError("the callable report generator needs module:function, e.g. callable:my_pkg.rrg:describe")
        try:
            self.function = import_target(location)
        except (ImportError, AttributeError, RegistryError) as exc:
            raise InputError(f"report generator {location!r} cannot be imported: {exc}") from None
        try:
            source = inspect.getsource(inspect.getmodule(self.function))
        except (OSError, TypeError):
            source = location
        self.provenance = {"path": location, "source": "python callable",
                           "sha256": hashlib.sha256(source.encode()).hexdigest()}

    def load(self) -> Any:
        return self.function

    def write(self, images: list[np.ndarray]) -> list[str]:
        return self.model(images)
