import multiprocessing as mp

import numpy as np

from cxrgen_bench.cache import Cache, key_of


def _writer(root, value, n):
    cache = Cache(root)
    for i in range(n):
        cache.put_row("features", "k" * 64, f"{i:064x}", np.full(8, value, np.float32))
        cache.put_arrays("stats", f"s{i}", {"x": np.full(4, value)})


def test_two_concurrent_writers_leave_only_whole_entries(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), v, 50)) for v in (1.0, 1.0)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    cache = Cache(tmp_path)
    for i in range(50):
        np.testing.assert_array_equal(cache.get_row("features", "k" * 64, f"{i:064x}"), np.ones(8, np.float32))
    assert not list(tmp_path.rglob("*.tmp"))


def test_damaged_entry_reads_as_missing(tmp_path):
    cache = Cache(tmp_path)
    cache.put_row("features", "k" * 64, "a" * 64, np.ones(3, np.float32))
    path = next(tmp_path.rglob("*.npy"))
    path.write_bytes(b"garbage")
    assert cache.get_row("features", "k" * 64, "a" * 64) is None


def test_disabled_cache_and_stable_keys(tmp_path):
    cache = Cache(tmp_path, enabled=False)
    cache.put_row("features", "k" * 64, "a" * 64, np.ones(3))
    assert cache.get_row("features", "k" * 64, "a" * 64) is None and not list(tmp_path.iterdir())
    assert key_of(a=1, b=[2, 3]) == key_of(b=[2, 3], a=1)
