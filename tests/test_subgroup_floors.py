"""Per-group floors of set-level metrics (functional/floors.py): the Fréchet distance from features against the
statistics route, splits that never reuse an image or pair G with its own prompt's real image, the excess's
sign and size rule, a pinned value, and the coverage of the gap's interval on Gaussian groups that differ in
their own spread (no gap built in: it holds 0; one group shifted: detected and named)."""
from __future__ import annotations

import numpy as np
import pytest

from cxrgen_bench.errors import MetricError
from cxrgen_bench.functional.floors import (_splits, designs, excess_gap, excess_over_floor, frechet_of_features,
                                            sidak_z)
from cxrgen_bench.functional.frechet import frechet_distance_from_features


@pytest.mark.parametrize("n, d", [(9, 16), (60, 8), (30, 256)])
def test_frechet_from_features_is_the_statistics_route(n, d):
    rng = np.random.default_rng(n + d)
    x, y = rng.normal(size=(n, d)), rng.normal(0.5, 1.5, size=(n + 3, d))
    assert frechet_of_features(x, y) == pytest.approx(frechet_distance_from_features(x, y), rel=1e-6)
    assert frechet_of_features(x, x) == pytest.approx(0.0, abs=1e-8)
    assert frechet_of_features(x + 3.0, y + 3.0) == pytest.approx(frechet_of_features(x, y), rel=1e-9)  # a shift


def _ids(prefix: str, n: int) -> np.ndarray:
    return np.array([f"{prefix}{i}" for i in range(n)])


def test_designs_and_splits_keep_the_sets_apart():
    gen_ids = _ids("p", 10)
    assert designs(gen_ids, _ids("q", 30)) == {"unpaired": 10}
    paired = np.concatenate([gen_ids, _ids("q", 4)])
    assert designs(gen_ids, paired) == {"unpaired": 2, "paired": 7}
    rng = np.random.default_rng(0)
    for design, ref_ids, h in (("unpaired", np.concatenate([gen_ids, _ids("q", 30)]), 10), ("paired", paired, 5)):
        for g, a, b in _splits(gen_ids, ref_ids, h, design, 20, rng):
            assert len(g) == len(a) == len(b) == h and not set(a) & set(b)
            assert not {str(gen_ids[i]) for i in g} & {str(ref_ids[i]) for i in b}  # B never holds G's prompts
            if design == "paired":
                assert [str(ref_ids[i]) for i in a] == [str(gen_ids[i]) for i in g]  # A: G's own prompts
            else:
                assert not {str(gen_ids[i]) for i in g} & {str(ref_ids[i]) for i in a}


def _group(rng: np.random.Generator, scale: float, shift: float = 0.0, n_gen: int = 12, n_ref: int = 36, d: int = 6):
    mu = rng.normal(0, 1, d)
    gen = mu + scale * rng.normal(0, 1, (n_gen, d)) + shift * scale
    ref = mu + scale * rng.normal(0, 1, (n_ref, d))
    return gen, ref, _ids("g", n_gen), _ids("r", n_ref)


def _trial(seed: int, shift_second: float = 0.0):
    rng = np.random.default_rng(seed)
    floors = {}
    for i, scale in enumerate((0.6, 1.0, 1.6)):  # groups of different spread: raw FDs differ, excesses should not
        gen, ref, gi, ri = _group(rng, scale, shift_second if i == 1 else 0.0)
        floors[f"group{i}"] = excess_over_floor(frechet_of_features, gen, ref, gi, ri, 12, "unpaired", splits=4,
                                                rounds=20, seed=seed)
    return excess_gap(floors)


def test_the_gap_interval_holds_zero_without_a_gap_and_detects_a_shifted_group():
    no_gap = [_trial(s) for s in range(40)]
    holds = np.mean([ci[0] == 0.0 for _, _, ci in no_gap])
    assert holds >= 0.85, holds  # at least 95 % in expectation; 40 trials
    shifted = [_trial(100 + s, shift_second=1.2) for s in range(20)]
    detected = np.mean([ci[0] > 0 for _, _, ci in shifted])
    named = np.mean([worst == "group1" for _, worst, _ in shifted])
    assert detected >= 0.8 and named >= 0.9, (detected, named)


def test_pinned_value_sign_and_size_rule():
    rng = np.random.default_rng(7)
    gen, ref, gi, ri = _group(rng, 1.0, shift=0.8)
    f = excess_over_floor(frechet_of_features, gen, ref, gi, ri, 12, "unpaired", splits=4, rounds=10, seed=3)
    assert (f.value, f.floor, f.excess) == pytest.approx((5.189497, 2.917488, 2.272009), abs=1e-5)
    assert f.excess == pytest.approx(f.value - f.floor) and f.se > 0 and f.n == 12
    flipped = excess_over_floor(frechet_of_features, gen, ref, gi, ri, 12, "unpaired", 4, 10, 3, higher_is_better=True)
    assert flipped.excess == pytest.approx(-f.excess)  # positive always means worse than real
    with pytest.raises(MetricError, match="allow n = 12"):
        excess_over_floor(frechet_of_features, gen, ref, gi, ri, 13, "unpaired", 4, 10, 3)
    with pytest.raises(MetricError, match="at least 4"):
        excess_over_floor(frechet_of_features, gen, ref, gi, ri, 3, "unpaired", 4, 10, 3)


def test_sidak_quantile():
    assert sidak_z(1) == pytest.approx(1.959964, abs=1e-5)
    assert sidak_z(5) == pytest.approx(2.5683, abs=1e-3)
