"""Parsers of command-line values that the CLI and the studies' own flags share (`Study.add_arguments`):
counts of work and BACKBONE=PATH pairs. Light and low: the studies must not import the CLI."""
from __future__ import annotations

import argparse
from typing import Sequence

from .errors import InputError


def parse_weights(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items or ():
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--weights {item!r}: expected BACKBONE=PATH, e.g. xrv-densenet121=/weights/xrv.safetensors")
        out[name.strip()] = path.strip()
    return out


def _int_at_least(low: int, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, not {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be {low} or more, not {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type for sizes and counts of work (batch size, steps): 0 would never finish or divide by 0."""
    return _int_at_least(1, text)


def non_negative_int(text: str) -> int:
    """argparse type for optional counts (bootstrap resamples: 0 means none)."""
    return _int_at_least(0, text)
