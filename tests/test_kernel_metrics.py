"""KID, precision/recall/density/coverage and CMMD: parity with torch-fidelity, clean-fid, the prdc
package and a from-definition reference; invariances; pinned values; bad input."""
import numpy as np
import pytest

from cxrgen_bench.errors import InputError
from cxrgen_bench.functional import cmmd, kid, prdc


def feats(seed, n=120, d=16, shift=0.0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    return np.abs(rng.normal(size=(n, d)) @ mix) + shift


def test_kid_parity_with_torch_fidelity_and_clean_fid():
    torch = pytest.importorskip("torch")
    metric_kid = pytest.importorskip("torch_fidelity.metric_kid")
    cleanfid = pytest.importorskip("cleanfid.fid")
    a, b = feats(0), feats(1, n=150, shift=0.1)
    theirs = metric_kid.kid_features_to_metric(torch.from_numpy(a), torch.from_numpy(b), kid_subsets=20,
                                               kid_subset_size=50, rng_seed=3, verbose=False)
    mean, std = kid(a, b, subset_size=50, subsets=20, seed=3)
    assert mean == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-10)
    assert std == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-10)
    # clean-fid draws from numpy's global generator; with the whole (smaller) set as the subset every draw
    # is a permutation, which MMD does not see
    b = b[:120]
    assert kid(a, b, subset_size=10_000, subsets=1)[0] == pytest.approx(
        cleanfid.kernel_distance(a, b, num_subsets=1, max_subset_size=10_000), rel=1e-10)


def test_kid_invariances_pinned_value_and_clipping():
    a, b = feats(0), feats(1, shift=0.3)
    far = kid(a, b, subset_size=60, subsets=10)[0]
    # two halves of one distribution: about 0 (unbiased, so it can be slightly negative)
    assert abs(kid(a[:60], a[60:], subset_size=60, subsets=1)[0]) < 0.05 * far
    near = kid(a, feats(1, shift=0.0), subset_size=60, subsets=10)[0]
    assert far > near
    perm = np.random.default_rng(0).permutation(120)
    assert kid(a, b, subset_size=120, subsets=1)[0] == pytest.approx(kid(a[perm], b, subset_size=120, subsets=1)[0])
    assert kid(a, b, subset_size=60, subsets=10) == pytest.approx((1.5733067, 0.5380306), abs=1e-6)
    # a subset larger than the smaller set is clipped to it (not an error, and never the whole set silently
    # when the caller asked for less)
    from cxrgen_bench.functional.kernel_distances import kid_subsets

    _, size = kid_subsets(a, b[:30], subset_size=1000, subsets=2)
    assert size == 30


def test_prdc_parity_with_the_prdc_package():
    reference = pytest.importorskip("prdc")
    for seed, k in ((0, 5), (1, 3), (2, 10)):
        real, fake = feats(seed, n=200), feats(seed + 10, n=150, shift=0.15)
        theirs = reference.compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
        ours = prdc(real, fake, k=k)
        for key in ("precision", "recall", "density", "coverage"):
            assert ours[key] == pytest.approx(theirs[key], abs=1e-12), (key, k)


def radius_ties() -> tuple[np.ndarray, np.ndarray]:
    """float32 features whose distances differ in float64 but round to a real k-NN radius in float32 (k = 5):
    a generated point just inside the unit circle around a real point whose five neighbours lie at distance 1,
    and at squared distance 2 − ε from those neighbours, whose radius is √2."""
    a, b = np.float32(0.6), np.float32(0.8)
    while float(a) ** 2 + float(b) ** 2 >= 1.0:
        b = np.nextafter(b, np.float32(0))
    real = np.zeros((7, 8), np.float32)
    real[1:6, :5] = np.eye(5, dtype=np.float32)
    real[6, 0] = -10.0
    fake = np.zeros((7, 8), np.float32)
    fake[0, 5], fake[0, 6] = a, b
    fake[1:, 7] = 100.0 + np.arange(6, dtype=np.float32)
    return real, fake


def test_prdc_in_float32_is_the_prdc_package_on_float32_features():
    """`precision: float32` (chexgenbench2025) is what CheXGenBench's call computes: prdc on float32 features,
    whose distances scikit-learn rounds to float32; on radius ties it differs from float64 by whole ball counts."""
    reference = pytest.importorskip("prdc")
    cases = [radius_ties()] + [(feats(seed, n=200, d=64).astype(np.float32),
                                feats(seed + 10, n=150, d=64, shift=0.15).astype(np.float32)) for seed in (0, 1)]
    for real, fake in cases:
        for k in (3, 5):
            if min(len(real), len(fake)) <= k + 1:  # the package needs k + 2 samples per set
                continue
            theirs = reference.compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
            ours = prdc(real, fake, k=k, precision="float32")
            for key in ("precision", "recall", "density", "coverage"):
                assert ours[key] == pytest.approx(float(theirs[key]), abs=1e-12), (key, k)
    real, fake = radius_ties()
    in32, in64 = prdc(real, fake, 5, precision="float32"), prdc(real, fake, 5)
    assert in64["density"] - in32["density"] == pytest.approx(6 / 35)  # six balls lost on ties, over 7 × k
    assert in64 == pytest.approx(reference.compute_prdc(real.astype(np.float64), fake.astype(np.float64), 5))
    with pytest.raises(InputError, match="float64 or float32"):
        prdc(real, fake, 5, precision="float16")


def test_prdc_precision_is_a_typed_setting_followed_by_chexgenbench2025():
    from cxrgen_bench.profiles import get_profile
    from cxrgen_bench.settings import SettingsError

    assert get_profile("chexgenbench2025").settings_for("prdc_density").precision == "float32"
    assert get_profile("roentgen2022").settings_for("prdc_density").precision == "float64"
    with pytest.raises(SettingsError, match="prdc_density.precision"):
        get_profile("roentgen2022").with_overrides(["prdc_density.precision=float16"])


def test_prdc_invariances_and_pinned_values():
    real = feats(0, n=200)
    same = prdc(real, real, k=5)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    fake = feats(5, n=150, shift=0.4)
    ours = prdc(real, fake, k=5)
    perm = np.random.default_rng(0).permutation(150)
    assert prdc(real, fake[perm], k=5) == ours
    assert ours == pytest.approx({"precision": 0.7733333, "recall": 0.32, "density": 0.9826667,
                                  "coverage": 0.775}, abs=1e-6)


def naive_cmmd(x, y, sigma):
    def k(a, b):
        return np.exp(-np.sum((a - b) ** 2) / (2 * sigma ** 2))

    def mean_k(a, b):
        return np.mean([[k(p, q) for q in b] for p in a])

    return 1000 * (mean_k(x, x) + mean_k(y, y) - 2 * mean_k(x, y))


def test_cmmd_matches_its_definition():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)  # CLIP embeddings are unit vectors
    y = rng.normal(size=(25, 8)) + 0.3
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    for sigma in (10.0, 0.5):
        assert cmmd(x, y, sigma) == pytest.approx(naive_cmmd(x, y, sigma), rel=1e-9, abs=1e-12)
    assert abs(cmmd(x, x)) < 1e-9
    assert cmmd(x, y) == pytest.approx(naive_cmmd(x, y, 10.0), rel=1e-9)
    assert cmmd(x, y, 0.5) == pytest.approx(naive_cmmd(x, y, 0.5), rel=1e-9)
    assert cmmd(y, x) == pytest.approx(cmmd(x, y), rel=1e-12)  # symmetric
    perm = np.random.default_rng(1).permutation(len(x))
    assert cmmd(x[perm], y) == pytest.approx(cmmd(x, y), rel=1e-12)  # order-free
    assert cmmd(x, y) == pytest.approx(0.9934884, rel=1e-6)


def test_bad_feature_sets_are_refused():
    a = feats(0)
    with pytest.raises(InputError, match="more than k"):
        prdc(a[:5], a, k=5)
    bad = a.copy()
    bad[3, 2] = np.nan
    for fn in (lambda: kid(bad, a), lambda: prdc(bad, a), lambda: cmmd(bad, a)):
        with pytest.raises(InputError, match="NaN"):
            fn()
    with pytest.raises(InputError, match="same d"):
        cmmd(a, a[:, :3])
    with pytest.raises(InputError, match="at least 2"):
        kid(a[:1], a)


def test_fd_infinity_fits_the_sweep_it_reports():
    """FD∞ is the intercept of a least-squares line through (1/N, FD_N), each FD_N the Fréchet distance of
    the recorded random subset against the fixed reference: recomputed here from the definition."""
    from cxrgen_bench.functional.frechet import FeatureStats, frechet_distance_detailed, frechet_infinity

    rng = np.random.default_rng(0)
    gen, ref = rng.normal(size=(400, 6)), rng.normal(size=(500, 6)) + 0.1
    stats = FeatureStats.from_features(ref)
    out = frechet_infinity(gen, stats, points=6, seed=1)
    pick = np.random.default_rng(1)
    direct = []
    for n in out["sizes"]:
        sub = gen[np.sort(pick.choice(len(gen), n, replace=False))]
        direct.append(frechet_distance_detailed(sub.mean(0), np.cov(sub, rowvar=False), stats.mean(),
                                                stats.covariance()).value)
    np.testing.assert_allclose(out["fd"], direct, rtol=1e-8)
    slope, intercept = np.polyfit(1 / np.array(out["sizes"], float), direct, 1)
    assert out["value"] == pytest.approx(intercept, rel=1e-8) and out["slope"] == pytest.approx(slope, rel=1e-8)
    # FD is translation invariant, and the subsets are chosen by index: moving both sets moves nothing
    shift = np.arange(6) * 3.0
    moved = frechet_infinity(gen + shift, FeatureStats.from_features(ref + shift), points=6, seed=1)
    assert moved["value"] == pytest.approx(out["value"], abs=1e-8)
    assert out["value"] == pytest.approx(0.2217390, abs=1e-6)
    with pytest.raises(InputError, match="at least 3 distinct"):
        frechet_infinity(gen, stats, sizes=[100, 400])


def test_prdc_bootstrap_weights_use_distinct_samples_for_the_generated_balls():
    real, fake = feats(0, n=80), feats(3, n=60, shift=0.2)
    assert prdc(real, fake, 5, fake_weights=np.ones(60)) == prdc(real, fake, 5)
    w = np.zeros(60)
    w[:30] = 2.0  # half the samples, each twice: the balls are those of the 30 distinct ones
    weighted = prdc(real, fake, 5, fake_weights=w)
    distinct = prdc(real, fake[:30], 5)
    assert weighted == pytest.approx(distinct)  # equal multiplicities: the weighted means are the plain ones
