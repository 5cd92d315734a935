"""Feature matrices handed to the metrics as memory maps (large sets, `features.MMAP_ROWS`): the metrics give
the numbers they give on arrays in memory, the kernel sums in tiles equal the whole-matrix sums, and a
metric writing into the matrix changes neither the cache nor the file."""
from __future__ import annotations

import numpy as np
import pytest

from cxrgen_bench.functional.kernel_distances import (_block_sum, cmmd, kid_subsets, mmd2_replicates, polynomial_kernel,
                                                      rbf_kernel)


def memmapped(a: np.ndarray, tmp_path, name: str) -> np.memmap:
    m = np.memmap(tmp_path / name, dtype=np.float32, mode="w+", shape=a.shape)
    m[:] = a
    m.flush()
    return np.memmap(tmp_path / name, dtype=np.float32, mode="c", shape=a.shape)


def test_tiled_kernel_sums_equal_the_whole_matrix():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(53, 6)), rng.normal(size=(31, 6)) + 0.2
    for kernel in (polynomial_kernel, lambda p, q: rbf_kernel(p, q, 2.0)):
        whole = kernel(a, b).sum()
        for block in (1, 7, 64):
            assert _block_sum(kernel, a, b, block)[0] == pytest.approx(whole, rel=1e-12)
            total, diag = _block_sum(kernel, a, a, block)
            assert total == pytest.approx(kernel(a, a).sum(), rel=1e-12)
            assert diag == pytest.approx(np.trace(kernel(a, a)), rel=1e-12)


def test_kernel_distances_read_memory_maps_as_arrays(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    y = (rng.normal(size=(260, 16)) + 0.1).astype(np.float32)
    mx, my = memmapped(x, tmp_path, "x"), memmapped(y, tmp_path, "y")
    for size in (40, 260):  # the subset path and the whole-matrix path
        assert np.array_equal(kid_subsets(mx, my, size, 10, 0)[0], kid_subsets(x, y, size, 10, 0)[0])
    assert cmmd(mx, my) == cmmd(x, y)
    weights = rng.integers(0, 3, size=(5, 300)).astype(float)
    assert np.allclose(mmd2_replicates(x, my, polynomial_kernel, True)(weights),
                       mmd2_replicates(x, y, polynomial_kernel, True)(weights), rtol=1e-12)


@pytest.fixture(scope="module")
def phantom_run(tmp_path_factory):
    from cxrgen_bench.calibration.dataset import PhantomDataset
    from cxrgen_bench.generation import generate

    root = tmp_path_factory.mktemp("matrix")
    csv = PhantomDataset(root / "dataset").prompts(limit=40, seed=3, size=128).write(root / "dataset" / "prompts.csv")
    generate(generator="real", model=str(root / "dataset"), prompts=csv, out=root / "real",
             profile="calibration-phantom", samples_per_prompt=1, progress=False)
    generate(generator="phantom-degraded", prompts=csv, out=root / "gen", profile="calibration-phantom",
             samples_per_prompt=1, progress=False)
    return root, csv


METRICS = ["fid[phantom-evaluator]", "kid[phantom-evaluator]", "cmmd[phantom-evaluator]",
           "prdc_precision[phantom-evaluator]", "prdc_coverage[phantom-evaluator]", "fd_infinity[phantom-evaluator]"]


def test_scores_from_memory_maps_equal_scores_from_arrays(phantom_run, monkeypatch):
    from cxrgen_bench.evaluation import features
    from cxrgen_bench.scoring.runner import score

    root, csv = phantom_run

    def run() -> dict:
        return score(images=root / "gen", reference=root / "real", prompts=csv, metrics=METRICS,
                     profile="calibration-phantom", cache_dir=root / "cache", bootstrap=20)["metrics"]

    in_memory = run()
    assert sum(1 for e in in_memory.values() if e.get("ci95")) >= 4
    monkeypatch.setattr(features, "MMAP_ROWS", 1)
    written = []
    init = features.FeatureMatrix.__init__
    monkeypatch.setattr(features.FeatureMatrix, "__init__", lambda self, records, *a: (written.append(len(records)),
                                                                                      init(self, records, *a))[1])
    mapped = run()
    assert written == [40, 40]  # generated and reference, once each for the run's five matrix-reading metrics
    for key, entry in in_memory.items():
        assert mapped[key]["value"] == pytest.approx(entry["value"], rel=1e-12, abs=1e-15), key
        if entry.get("ci95"):
            assert mapped[key]["ci95"] == pytest.approx(entry["ci95"], rel=1e-12, abs=1e-15), key


def test_a_metric_writing_into_the_matrix_touches_nothing_stored(phantom_run, monkeypatch):
    from cxrgen_bench.cache import Cache
    from cxrgen_bench.data.manifest import ImageSet
    from cxrgen_bench.evaluation import features
    from cxrgen_bench.models.image import build_backbone
    from cxrgen_bench.profiles import get_profile

    root, _ = phantom_run
    cfg = get_profile("calibration-phantom").backbone("phantom-evaluator")
    net = build_backbone("phantom-evaluator", cfg)
    records = ImageSet.from_folder(root / "gen").records
    cache = Cache(root / "cache")
    before = features.extract_features(records, net, cfg["preprocessing"], cfg["layer"], cache)
    monkeypatch.setattr(features, "MMAP_ROWS", 1)
    matrix = features.extract_features(records, net, cfg["preprocessing"], cfg["layer"], cache)
    assert isinstance(matrix, np.memmap) and matrix.shape == before.shape and np.array_equal(matrix, before)
    matrix -= matrix.mean(0)  # centring in place, as a metric might
    again = features.extract_features(records, net, cfg["preprocessing"], cfg["layer"], cache)
    assert np.array_equal(again, before)


def test_fd_infinity_routes_agree_with_the_definition(tmp_path):
    """Subsets smaller than the dimension (the n × n route) and larger ones (statistics streamed from the
    map, the d × d route) both give each subset's Fréchet distance as computed from its definition."""
    from cxrgen_bench.functional.frechet import FeatureStats, frechet_distance_detailed, frechet_infinity

    rng = np.random.default_rng(4)
    gen = rng.normal(size=(60, 20)).astype(np.float32)
    ref = rng.normal(size=(90, 20)) + 0.2
    stats = FeatureStats.from_features(ref)
    out = frechet_infinity(memmapped(gen, tmp_path, "gen"), stats, sizes=[10, 15, 30, 60], seed=2)
    pick = np.random.default_rng(2)
    for size, value in zip(out["sizes"], out["fd"]):
        sub = gen[np.sort(pick.choice(len(gen), size, replace=False))].astype(np.float64)
        direct = frechet_distance_detailed(sub.mean(0), np.cov(sub, rowvar=False), stats.mean(), stats.covariance())
        # below the dimension the covariance is singular and the definition's matrix square root loses digits
        assert value == pytest.approx(direct.value, rel=1e-7 if size < 20 else 1e-9), size


def test_matrix_files_are_released_and_a_full_disk_is_named(phantom_run, monkeypatch):
    """The temporary files have no name and their descriptors go with the maps; a disk without room for the
    matrix is an error naming the folder and the size (a memory map filling a sparse file would die of SIGBUS)."""
    import errno
    import gc
    import os

    from cxrgen_bench.cache import Cache
    from cxrgen_bench.data.manifest import ImageSet
    from cxrgen_bench.errors import InputError
    from cxrgen_bench.evaluation import features
    from cxrgen_bench.models.image import build_backbone
    from cxrgen_bench.profiles import get_profile

    root, _ = phantom_run
    cfg = get_profile("calibration-phantom").backbone("phantom-evaluator")
    net = build_backbone("phantom-evaluator", cfg)
    records = ImageSet.from_folder(root / "gen").records
    cache = Cache(root / "cache")
    features.extract_features(records, net, cfg["preprocessing"], cfg["layer"], cache)  # opens the row store
    monkeypatch.setattr(features, "MMAP_ROWS", 1)
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    maps = [features.extract_features(records, net, cfg["preprocessing"], cfg["layer"], cache) for _ in range(3)]
    assert all(isinstance(m, np.memmap) for m in maps) and len(os.listdir("/proc/self/fd")) >= before + 3
    del maps
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before
    assert not list((root / "cache" / "tmp").iterdir())

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(features.os, "posix_fallocate", full)
    with pytest.raises(InputError, match="no room for the 40 × .* feature matrix .* in .*tmp: No space left"):
        features.extract_features(records, net, cfg["preprocessing"], cfg["layer"], cache)
