import numpy as np
import pytest
from scipy.stats import norm

from cxrgen_bench.functional import FeatureStats, binary_auroc, frechet_distance_from_stats
from cxrgen_bench.functional.bootstrap import (bootstrap, paired_difference, percentile_ci, resample_weights,
                                               weighted_mean)
from cxrgen_bench.functional.frechet import frechet_bootstrap_replicates


def test_weights_are_resamples_of_the_prompts():
    w = resample_weights(50, 200, seed=3)
    assert w.shape == (200, 50) and (w.sum(axis=1) == 50).all()
    assert np.array_equal(w, resample_weights(50, 200, seed=3)) and not np.array_equal(w, resample_weights(50, 200, 4))


def test_mean_ci_covers_the_true_value_at_about_95_percent():
    rng = np.random.default_rng(0)
    true_mean = 2 / (2 + 5)  # Beta(2, 5), like per-prompt MS-SSIM values
    hits, trials = 0, 300
    for t in range(trials):
        values = rng.beta(2, 5, size=60)
        w = resample_weights(60, 500, seed=t)
        ci = percentile_ci(w @ values / 60)
        hits += ci[0] <= true_mean <= ci[1]
    assert 0.90 <= hits / trials <= 0.99


def test_auroc_ci_covers_the_binormal_truth():
    rng = np.random.default_rng(1)
    delta = 1.0
    truth = norm.cdf(delta / np.sqrt(2))  # AUROC of N(δ,1) vs N(0,1)
    hits, trials = 0, 120
    for t in range(trials):
        y = np.r_[np.ones(80), np.zeros(120)]
        s = np.r_[rng.normal(delta, 1, 80), rng.normal(0, 1, 120)]

        def stat(w):
            idx = np.repeat(np.arange(200), w)
            return binary_auroc(s[idx], y[idx])

        result = bootstrap(stat, 200, 300, seed=t, estimate=binary_auroc(s, y))
        hits += result.ci95[0] <= truth <= result.ci95[1]
    assert 0.88 <= hits / trials <= 0.995


def test_fid_replicates_equal_explicit_resampling():
    rng = np.random.default_rng(2)
    gen = rng.normal(size=(120, 8)) @ rng.normal(size=(8, 8)) * 0.5
    ref = FeatureStats.from_features(rng.normal(size=(300, 8)) + 0.2)
    weights = resample_weights(120, 5, seed=0)
    fast = frechet_bootstrap_replicates(gen, ref, weights)
    for w, value in zip(weights, fast):
        explicit = frechet_distance_from_stats(FeatureStats.from_features(np.repeat(gen, w, axis=0)), ref).value
        assert value == pytest.approx(explicit, rel=1e-8)
    unit = frechet_bootstrap_replicates(gen, ref, np.ones((1, 120), dtype=np.int64))[0]
    assert unit == pytest.approx(frechet_distance_from_stats(FeatureStats.from_features(gen), ref).value, rel=1e-8)


def test_fid_replicates_with_fewer_prompts_than_dimensions():
    rng = np.random.default_rng(3)
    gen = rng.normal(size=(12, 30))
    ref = FeatureStats.from_features(rng.normal(size=(50, 30)) * 1.2)
    weights = resample_weights(12, 4, seed=1)
    for w, value in zip(weights, frechet_bootstrap_replicates(gen, ref, weights)):
        explicit = frechet_distance_from_stats(FeatureStats.from_features(np.repeat(gen, w, axis=0)), ref).value
        assert value == pytest.approx(explicit, rel=1e-7)


def test_paired_difference():
    rng = np.random.default_rng(4)
    values = rng.beta(2, 5, 100)
    w = resample_weights(100, 1000, seed=0)
    a = weighted_mean(values)
    same = paired_difference(values.mean(), values.mean(), np.array([a(x) for x in w]), np.array([a(x) for x in w]))
    assert same.difference == 0 and same.p_value == 1.0
    shifted = values + 0.05 + rng.normal(0, 0.01, 100)  # a clear paired improvement
    b = weighted_mean(shifted)
    diff = paired_difference(values.mean(), shifted.mean(), np.array([a(x) for x in w]), np.array([b(x) for x in w]))
    assert diff.difference == pytest.approx(shifted.mean() - values.mean())
    assert diff.ci95[0] > 0 and diff.p_value <= 0.002


def test_fid_ci_contains_the_estimate_despite_the_bootstrap_bias():
    """FID's upward bias grows when a resample repeats prompts: raw replicates sit above the estimate.
    The re-centred interval must contain it (the raw one did not, at paper scale)."""
    rng = np.random.default_rng(7)
    gen = rng.normal(size=(200, 64)) @ rng.normal(size=(64, 64)) * 0.2
    ref = FeatureStats.from_features(rng.normal(size=(400, 64)) * 0.25 + 0.05)
    point = frechet_distance_from_stats(FeatureStats.from_features(gen), ref).value
    result = bootstrap(lambda w: frechet_bootstrap_replicates(gen, ref, w[None])[0], 200, 200, 0, point)
    assert np.nanmean(result.replicates) > point  # the bias the correction removes
    assert result.ci95[0] <= point <= result.ci95[1]
    assert result.as_dict()["bias"] > 0
