"""Progress of long stages (feature extraction, MS-SSIM pairs, generation, training, bootstrap).

On a terminal: a tqdm bar with items/s and ETA. Otherwise (a log file, CI): one line every
`LINE_EVERY_S` seconds with the rate and ETA, and a closing line for every stage that took at least
`MIN_REPORT_S`, so logs show that work goes on without being flooded by short stages.
Silent when disabled (`--quiet`, `--json`, or ``progress=False`` in Python).

Library code asks the evaluation context (or the caller) for a `Progress` and calls `update(n)`;
it never decides by itself whether to print.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Callable, TextIO

LINE_EVERY_S = 10.0
MIN_REPORT_S = 2.0  # in logs, stages shorter than this that printed nothing stay silent at the end too


class Progress:
    """One stage's progress; a context manager (closing prints the final state)."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", enabled: bool = True,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic,
                 initial: int = 0):
        self.total, self.desc, self.unit = total, desc, unit
        self.done = self._start_done = initial
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self._clock = clock
        self._started = self._last_line = clock()
        self._bar: Any = None
        if enabled and _isatty(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, initial=initial, leave=True,
                             dynamic_ncols=True)

    def rate(self) -> float:
        elapsed = self._clock() - self._started
        return (self.done - self._start_done) / elapsed if elapsed > 0 else 0.0

    def update(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = self._clock()
        if now - self._last_line >= LINE_EVERY_S:
            self._last_line = now
            self._line()

    def _line(self, final: bool = False) -> None:
        rate = self.rate()
        of = f"/{self.total}" if self.total is not None else ""
        text = f"[cxrgen-bench] {self.desc}: {self.done}{of} {self.unit}, {rate:.2f} {self.unit}/s"
        if not final and self.total is not None and rate > 0:
            text += f", ETA {time.strftime('%H:%M:%S', time.gmtime((self.total - self.done) / rate))}"
        elif final:
            text += f", done in {self._clock() - self._started:.1f} s"
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and self.done > self._start_done and (
                self._last_line > self._started or self._clock() - self._started >= MIN_REPORT_S):
            self._line(final=True)
        self.enabled = False

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


ProgressFactory = Callable[..., Progress]


def silent(total: int | None = None, desc: str = "", unit: str = "it", **kwargs: Any) -> Progress:
    """A `ProgressFactory` that shows nothing (the default for library calls that were not asked to)."""
    return Progress(total, desc, unit, enabled=False, **kwargs)


def shown(total: int | None = None, desc: str = "", unit: str = "it", **kwargs: Any) -> Progress:
    return Progress(total, desc, unit, enabled=True, **kwargs)


def factory(enabled: bool) -> ProgressFactory:
    return shown if enabled else silent
