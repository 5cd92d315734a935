"""A resample the metric's own size rule refuses is counted, not fatal: PRDC on 8 real and 8 generated images
computes with --bootstrap, and the result says how many resamples could not be computed and why, with the
real counts."""
from __future__ import annotations

import numpy as np
import pytest

import cxrgen_bench
from cxrgen_bench.errors import MetricError
from cxrgen_bench.metrics.base import _replicates_or_nan

from .conftest import write_gray


def _folders(tmp_path, n: int):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:128, 0:128]
    for i in range(n):
        base = 120 + 60 * np.sin(xx / (7 + i)) * np.cos(yy / 11)
        write_gray(tmp_path / "real" / f"p{i}.png", base + rng.normal(0, 5, base.shape))
        write_gray(tmp_path / "gen" / f"p{i}.png", base + rng.normal(0, 25, base.shape))
    return tmp_path / "gen", tmp_path / "real"


def test_prdc_on_eight_images_keeps_its_value_under_the_bootstrap_and_counts_what_it_could_not(tmp_path):
    gen, real = _folders(tmp_path, 8)
    key = "prdc_coverage[phantom-evaluator]"
    plain = cxrgen_bench.score(images=gen, reference=real, metrics=[key], profile="calibration-phantom")
    boot = cxrgen_bench.score(images=gen, reference=real, metrics=[key], profile="calibration-phantom",
                              bootstrap=200)
    entry = boot["metrics"][key]
    assert boot["status"] == "complete" and entry["value"] == plain["metrics"][key]["value"]
    defined = entry["bootstrap"]["defined"]
    assert 0 < 200 - defined < 200  # some resamples drew ≤ k = 5 distinct of the 8 prompts; most did not
    said = " ".join(entry["warnings"])
    assert f"{200 - defined} of 200 resamples could not be computed" in said
    assert "distinct of the 8 prompts" in said and "got 8 real and" in said and "% of resamples used" in said
    assert entry["bootstrap"]["replicates"].count(None) == 200 - defined


def test_a_chunk_with_one_refused_resample_keeps_the_others():
    def replicates(weights):
        if (weights[:, 0] == 0).any():
            raise MetricError("needs the first prompt")
        return weights.sum(axis=1).astype(float)

    weights = np.array([[1, 1], [0, 2], [2, 0]])
    refused: list[str] = []
    values = _replicates_or_nan(replicates, weights, refused)
    assert values[0] == 2 and np.isnan(values[1]) and values[2] == 2 and refused == ["needs the first prompt"]


def test_a_bug_in_a_replicate_is_not_swallowed():
    with pytest.raises(ZeroDivisionError):
        _replicates_or_nan(lambda w: 1 / 0, np.ones((2, 2)), [])
