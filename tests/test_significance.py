"""Approximate randomization and RadCliQ-v1 (issue 28): the pure functions against definitions written here,
and the paired comparisons compare and the board make with them."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from cxrgen_bench.functional.radcliq import COEF, INTERCEPT, MEAN, SCALE, radcliq_v1
from cxrgen_bench.functional.significance import approximate_randomization, approximate_randomization_test


def exact_permutation_p(a: np.ndarray, b: np.ndarray) -> float:
    """Every one of the 2^n swaps: the exact p-value the randomized test estimates."""
    d = b - a
    observed = abs(d.mean())
    flips = np.array(list(itertools.product((-1, 1), repeat=d.size)))
    return float((np.abs(flips @ d) / d.size >= observed - 1e-12).mean())


@pytest.mark.parametrize("shift", [0.0, 0.15, 0.6])
def test_approximate_randomization_estimates_the_exact_permutation_p_value(shift):
    rng = np.random.default_rng(3)
    a = rng.random(12)
    b = a + shift + rng.normal(0, 0.3, 12)
    exact = exact_permutation_p(a, b)
    test = approximate_randomization_test(a, b, n_shuffles=20000, seed=1)
    assert abs(test["p_value"] - exact) <= 4 * test["mc_error"] + 1 / 20001
    assert approximate_randomization(a, b, n_shuffles=20000, seed=1) == test["p_value"]  # the stable API


def test_approximate_randomization_properties():
    rng = np.random.default_rng(4)
    a, b = rng.random(50), rng.random(50)
    p = approximate_randomization(a, b, seed=7)
    assert p == approximate_randomization(b, a, seed=7)  # two-sided: the order of the systems does not matter
    assert p == approximate_randomization(a + 5, b + 5, seed=7)  # a shift of both changes nothing
    assert approximate_randomization(a, a) == 1.0  # identical systems
    assert approximate_randomization(a, a + 1.0, n_shuffles=999) == pytest.approx(1 / 1000)  # never 0
    order = rng.permutation(50)
    assert approximate_randomization(a[order], b[order], seed=7) == pytest.approx(p, abs=0.02)
    for bad in (([1.0, 2.0], [1.0]), ([], []), ([1.0, np.nan], [1.0, 2.0])):
        with pytest.raises(Exception):
            approximate_randomization(*bad)


def test_radcliq_v1_is_the_published_standardised_regression():
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(5)
    x = rng.random((40, 4))
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_, scaler.var_ = MEAN, SCALE, SCALE ** 2
    scaler.n_features_in_, scaler.n_samples_seen_ = 4, 160
    expected = scaler.transform(x) @ COEF + INTERCEPT
    np.testing.assert_allclose(radcliq_v1(x[:, 0], x[:, 1], x[:, 2], x[:, 3]), expected, rtol=1e-12, atol=1e-12)
    # lower is better: a report closer to its reference on every component scores lower
    worse, better = radcliq_v1([0.2], [0.3], [0.4], [0.1]), radcliq_v1([0.8], [0.9], [0.95], [0.7])
    assert better[0] < worse[0]
    assert radcliq_v1(*(np.array([v]) for v in MEAN))[0] == pytest.approx(INTERCEPT, abs=1e-12)  # at the means
    with pytest.raises(Exception, match="differ in length"):
        radcliq_v1([0.1, 0.2], [0.1], [0.1], [0.1])
    with pytest.raises(Exception, match="bertscore"):
        radcliq_v1([0.1], [np.nan], [0.1], [0.1])


def test_compare_and_the_board_use_both_tests(tmp_path):
    from cxrgen_bench.compare import compare_metric
    from cxrgen_bench.leaderboard.render import build
    from cxrgen_bench.results import upgrade

    from .results_factory import measured

    rng = np.random.default_rng(6)
    ids = [f"p{i:02d}" for i in range(40)]
    good, bad = rng.random(40) * 0.2 + 0.7, rng.random(40) * 0.2 + 0.5
    entries = []
    for name, values in (("good", good), ("bad", bad), ("same", good + rng.normal(0, 0.001, 40))):
        e = upgrade(measured(name))
        e["metrics"]["ms_ssim"].update(value=float(values.mean()), per_item={"ids": ids, "values": values.tolist()})
        e["metrics"]["ms_ssim"].pop("ci95", None)
        e["name"] = name
        entries.append(e)
    row = compare_metric("ms_ssim", entries[0]["metrics"]["ms_ssim"], entries[1]["metrics"]["ms_ssim"])
    assert row.ar_items == 40 and row.ar_p_value < 0.01 and row.ar_mc_error < 0.01
    same = compare_metric("ms_ssim", entries[0]["metrics"]["ms_ssim"], entries[2]["metrics"]["ms_ssim"])
    assert same.ar_p_value > 0.05
    md = build(entries, tmp_path / "board", significance="ar")["README.md"].read_text()
    assert "differs from the column's best at p < 0.05 (approximate randomization" in md
    table = md.split("## Fidelity and diversity", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ") and "model" not in line}
    import re

    marked = {name: bool(re.search(r"\d \*", line)) for name, line in rows.items()}  # "0.800 ± 0.047 *"
    assert marked == {"good": True, "bad": False, "same": True}  # ms_ssim: lower is better; bad is the best
