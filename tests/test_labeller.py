"""The labeller against hand-checked sentences (tests/data/labeller_cases.tsv)."""
from pathlib import Path

import pytest

from cxrgen_bench.data.labeller import label_report
from cxrgen_bench.data.labels import CHEXPERT_14

CASES = [line.split("\t") for line in (Path(__file__).parent / "data" / "labeller_cases.tsv").read_text().splitlines()
         if line and not line.startswith("#")]


def expected(spec: str) -> dict[str, float | None]:
    out = {}
    for item in filter(None, (s.strip() for s in spec.split(";"))):
        name, value = item.split("=")
        assert name in CHEXPERT_14, name
        out[name] = None if value == "None" else float(value)
    return out


def test_there_are_at_least_100_cases():
    assert len(CASES) >= 100


@pytest.mark.parametrize("text,spec", [(c[0], c[1] if len(c) > 1 else "") for c in CASES], ids=lambda v: v[:40])
def test_sentence(text, spec):
    want = expected(spec)
    got = label_report(text)
    for name in CHEXPERT_14:
        if name == "No Finding" and name not in want:
            continue
        assert got[name] == want.get(name), f"{name}: got {got[name]}, expected {want.get(name)} for {text!r}"
