"""Report generators (the `report_generators` registry): image → impression text, for the factual
correctness metrics of RoentGen Table 4 (a fixed report-generation model reads generated images)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ...errors import InputError
from ...registry import REPORT_GENERATORS
from .base import ReportGenerator


def load_report_generator(spec: str | ReportGenerator, settings: Mapping[str, Any] | None = None,
                          device: str = "cpu", allow_pickle: bool = False,
                          trust_remote_code: bool = False) -> ReportGenerator:
    """A report generator from ``KIND:LOCATION`` (KIND registered: callable:my_pkg.rrg:describe), a bare
    KIND that needs no location (phantom-reader), or a transformers image-to-text folder."""
    if isinstance(spec, ReportGenerator):
        return spec
    common = dict(settings=settings, device=device, allow_pickle=allow_pickle)
    kind, sep, location = spec.partition(":")
    if sep and kind in REPORT_GENERATORS:
        cls = REPORT_GENERATORS.get(kind)
    elif spec in REPORT_GENERATORS:
        cls, location = REPORT_GENERATORS.get(spec), None
    elif (Path(spec) / "config.json").is_file():
        cls, location = REPORT_GENERATORS.get("transformers"), spec
    else:
        what = "does not exist" if not Path(spec).exists() else "has no config.json"
        raise InputError(f"report generator {spec!r}: {what}. Give a transformers image-to-text folder or "
                         f"KIND:LOCATION with KIND one of {', '.join(REPORT_GENERATORS.names())}")
    if trust_remote_code:
        if cls.name != "transformers":
            raise InputError("--trust-remote-code applies to transformers report generators only")
        return cls(location, trust_remote_code=True, **common)
    return cls(location, **common)


__all__ = ["ReportGenerator", "load_report_generator"]
