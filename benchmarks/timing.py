"""Shared by the benchmark scripts (run as `python benchmarks/NAME.py`, so this folder is on the path)."""
from __future__ import annotations

import time
from typing import Any, Callable


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(wall seconds, result) of one call."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out
