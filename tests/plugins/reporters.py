"""Report generators as Python callables (images → one impression per image), for provider tests."""
from __future__ import annotations

CALLS: list[int] = []


def describe_brightness(images):
    CALLS.append(len(images))
    return ["Dense opacification." if float(im.mean()) > 0.45 else "Clear lungs." for im in images]


def one_short(images):
    return ["Clear lungs."] * (len(images) - 1)


def not_text(images):
    return [0.5 for _ in images]
