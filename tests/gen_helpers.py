"""Callable generators for tests (importable as tests.gen_helpers:NAME from subprocesses)."""
from __future__ import annotations

import os
import time

import numpy as np


def noise_image(requests, size=192):
    """A deterministic image per request: seeded noise over a prompt-dependent gradient."""
    out = []
    for r in requests:
        rng = np.random.default_rng(r.seed % 2**32)
        base = np.linspace(0, 1, size)[None, :] * (0.3 + 0.1 * (len(r.text) % 5))
        out.append(np.clip(base + 0.2 * rng.random((size, size)), 0, 1))
    return out


def slow_noise_image(requests):
    time.sleep(float(os.environ.get("CXRGEN_TEST_DELAY", "0.2")))
    return noise_image(requests, size=64)


def one_report_too_few(images):
    """A broken report generator (tests): one report fewer than images."""
    return ["No acute process."] * (len(images) - 1)
