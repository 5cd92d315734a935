import numpy as np
import pytest
import scipy.linalg
import torch

from cxrgen_bench.errors import MetricError
from cxrgen_bench.functional.frechet import frechet_replicates
from cxrgen_bench.functional import (FeatureStats, frechet_distance, frechet_distance_detailed,
                                     frechet_distance_from_features, frechet_distance_from_stats)


def scipy_reference(x: np.ndarray, y: np.ndarray) -> float:
    """The pytorch-fid route, written from the definition: scipy sqrtm of Σ1Σ2."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def features(n=600, d=64, shift=0.0, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    return rng.normal(size=(n, d)) @ mix * scale + shift


def test_parity_with_scipy_sqrtm():
    x, y = features(seed=1), features(seed=2, shift=0.3, scale=1.2)
    ours = frechet_distance_from_features(x, y)
    ref = scipy_reference(x, y)
    assert abs(ours - ref) / ref < 1e-6


def test_parity_with_torchmetrics_given_identical_features():
    tm = pytest.importorskip("torchmetrics.image.fid")
    x = features(n=300, d=32, seed=3)
    y = features(n=300, d=32, seed=4, shift=0.5)

    class Passthrough(torch.nn.Module):
        """Hands torchmetrics our features as if its network had computed them."""

        def forward(self, batch):
            if batch.dtype == torch.uint8:  # torchmetrics' dummy call to infer the feature size
                return torch.zeros(batch.shape[0], 32)
            return batch

    metric = tm.FrechetInceptionDistance(feature=Passthrough(), normalize=False)
    metric.set_dtype(torch.float64)
    metric.update(torch.from_numpy(y), real=True)
    metric.update(torch.from_numpy(x), real=False)
    theirs = float(metric.compute())
    ours = frechet_distance_from_features(x, y)
    assert abs(ours - theirs) / theirs < 1e-6


def test_identical_sets_give_zero():
    x = features(seed=5)
    assert abs(frechet_distance_from_features(x, x)) < 1e-8


def test_symmetric_and_permutation_invariant():
    x, y = features(seed=6), features(seed=7, shift=0.2)
    perm = np.random.default_rng(0).permutation(len(x))
    a = frechet_distance_from_features(x, y)
    assert frechet_distance_from_features(y, x) == pytest.approx(a, rel=1e-9)
    assert frechet_distance_from_features(x[perm], y) == pytest.approx(a, rel=1e-9)


@pytest.mark.parametrize("batch", [1, 7, 64, 600])
def test_batch_size_invariance(batch):
    x, y = features(seed=8), features(seed=9, shift=0.1)
    whole = FeatureStats.from_features(x)
    stream = FeatureStats.empty(x.shape[1])
    for start in range(0, len(x), batch):
        stream.update(x[start:start + batch])
    assert stream.n == whole.n
    np.testing.assert_allclose(stream.covariance(), whole.covariance(), rtol=1e-10, atol=1e-13)
    ref = FeatureStats.from_features(y)
    assert frechet_distance_from_stats(stream, ref).value == pytest.approx(
        frechet_distance_from_stats(whole, ref).value, rel=1e-9)


def test_shard_merge_equals_single_pass():
    x = features(seed=10)
    shards = [FeatureStats.from_features(part) for part in np.array_split(x, 5)]
    merged = shards[0]
    for s in shards[1:]:
        merged = merged.merge(s)
    whole = FeatureStats.from_features(x)
    np.testing.assert_allclose(merged.mean(), whole.mean(), rtol=1e-12)
    np.testing.assert_allclose(merged.covariance(), whole.covariance(), rtol=1e-10, atol=1e-12)
    # round trip through the cache format
    back = FeatureStats.from_arrays(merged.to_arrays())
    np.testing.assert_array_equal(back.scatter, merged.scatter)


@pytest.mark.parametrize("offset", [0.0, 1e4, 1e6])
def test_streamed_covariance_keeps_precision_under_a_large_mean(offset):
    # Raw moments (XᵀX − nμμᵀ) lose (|μ|/σ)² of precision: 1e-8 relative at offset 1e4. The centred
    # merge stays at rounding level whatever the offset, streamed in batches or merged from shards.
    x = np.random.default_rng(3).normal(size=(500, 6)) + offset
    two_pass = np.cov(x, rowvar=False)
    stream = FeatureStats.empty(6)
    for start in range(0, len(x), 37):
        stream.update(x[start:start + 37])
    error = np.abs(stream.covariance() - two_pass).max() / np.abs(two_pass).max()
    assert error < 1e-12 * max(1.0, offset / 1e4)
    raw = (x.T @ x - len(x) * np.outer(x.mean(0), x.mean(0))) / (len(x) - 1)  # what the old form computed
    if offset >= 1e4:
        assert np.abs(raw - two_pass).max() / np.abs(two_pass).max() > 1e3 * error


def test_bootstrap_replicates_keep_precision_under_a_large_mean():
    rng = np.random.default_rng(4)
    gen, ref = rng.normal(size=(40, 5)) + 1e5, rng.normal(size=(60, 5)) + 1e5 + 0.3
    ones = np.ones((1, 40), dtype=np.int64)
    replicate = frechet_replicates(gen, FeatureStats.from_features(ref))(ones)[0]
    assert replicate == pytest.approx(frechet_distance_from_features(gen, ref), rel=1e-8)


def test_torch_and_numpy_inputs_agree():
    x, y = features(seed=11), features(seed=12, shift=0.4)
    mu1, s1, mu2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    a = frechet_distance(mu1, s1, mu2, s2)
    b = frechet_distance(torch.from_numpy(mu1).float(), torch.from_numpy(s1), torch.from_numpy(mu2), torch.from_numpy(s2))
    assert a == pytest.approx(b, rel=1e-6)


def test_pinned_value():
    # Features of a fixed seed: this number only changes if the definition changes.
    x, y = features(n=200, d=16, seed=42), features(n=200, d=16, seed=43, shift=0.25, scale=0.8)
    assert frechet_distance_from_features(x, y) == pytest.approx(8.9956119188, rel=1e-9)
    assert scipy_reference(x, y) == pytest.approx(8.9956119188, rel=1e-6)


def test_diagnostics_flag_rank_deficiency_and_conditioning():
    x, y = features(n=20, d=64, seed=13), features(n=20, d=64, seed=14)
    result = frechet_distance_from_stats(FeatureStats.from_features(x), FeatureStats.from_features(y))
    assert result.rank_deficient and result.warnings
    assert result.condition_number_1 == float("inf") or result.condition_number_1 > 1e8
    assert result.clipped_eigenvalues >= 0
    healthy = frechet_distance_from_stats(FeatureStats.from_features(features(seed=15)),
                                          FeatureStats.from_features(features(seed=16)))
    assert not healthy.rank_deficient and np.isfinite(healthy.condition_number_1)


def test_too_few_samples_and_bad_values_are_errors():
    with pytest.raises(MetricError, match="at least 2"):
        frechet_distance_from_features(features(n=1, d=4), features(n=10, d=4))
    mu, s = np.zeros(3), np.eye(3)
    with pytest.raises(MetricError, match="NaN"):
        frechet_distance(mu, s * np.nan, mu, s)
    with pytest.raises(MetricError, match="shape"):
        frechet_distance_detailed(mu, s, np.zeros(4), np.eye(4))


def test_rounding_level_negative_eigenvalues_are_not_counted_when_n_is_below_d():
    from cxrgen_bench.functional import FeatureStats, frechet_distance_from_stats

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 64)), rng.normal(size=(20, 64))  # n < d: rank-deficient covariances
    result = frechet_distance_from_stats(FeatureStats.from_features(a), FeatureStats.from_features(b))
    assert result.rank_deficient and result.clipped_eigenvalues == 0
    assert result.most_negative_eigenvalue <= 0  # the most negative value is still reported


def test_a_cached_reference_root_gives_the_same_distance_and_diagnostics():
    from cxrgen_bench.functional.frechet import ReferenceRoot, frechet_to_root

    x, y = features(seed=17), features(seed=18, shift=0.3)
    gen, ref = FeatureStats.from_features(x), FeatureStats.from_features(y)
    root = ReferenceRoot.from_arrays(ReferenceRoot.of(ref).to_arrays())  # through the cache format
    cached = frechet_to_root(gen.mean(), gen.covariance(), root, gen.n)
    assert cached.as_dict() == frechet_distance_from_stats(gen, ref).as_dict()
    assert cached.value == pytest.approx(scipy_reference(x, y), rel=1e-8)
    # both routes for the generated side: Cholesky (positive definite) and plain products (singular)
    few = features(n=30, seed=19)
    singular = frechet_to_root(few.mean(0), np.cov(few, rowvar=False), root, 30)
    assert singular.condition_number_1 == float("inf") and singular.value == pytest.approx(scipy_reference(few, y), rel=1e-6)


def test_condition_number_estimate_is_within_a_factor_d_of_the_eigenvalue_ratio():
    x = features(seed=20) * np.linspace(0.05, 3, 64)  # a spread of scales: condition number in the thousands
    sigma = np.cov(x, rowvar=False)
    ev = np.linalg.eigvalsh(sigma)
    exact = ev.max() / ev.min()
    estimate = frechet_distance_detailed(x.mean(0), sigma, np.zeros(64), np.eye(64)).condition_number_1
    assert exact / 64 <= estimate <= exact * 64 and exact > 1e3
