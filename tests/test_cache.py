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


def test_damaged_entries_of_every_kind_read_as_missing_with_a_warning(tmp_path, caplog):
    """The module's promise: truncated, garbled or wrong-shaped entries are recomputed, never a crash."""
    cache = Cache(tmp_path)
    for i in range(2):
        cache.put_row("features", "k" * 64, f"{i:064x}", np.ones(8, np.float32))
    cache.put_arrays("stats", "s", {"mu": np.ones(4), "n": np.array(3)})
    cache.put_json("memo", "j", {"value": 1.0})
    rows = sorted((tmp_path / "features").rglob("*.npy"))
    np.save(rows[0], np.ones((2, 4), np.float32))  # well-formed, wrong shape
    rows[1].write_bytes(rows[1].read_bytes()[:20])  # truncated header
    npz = tmp_path / "stats" / "s.npz"
    npz.write_bytes(npz.read_bytes()[:40])
    (tmp_path / "memo" / "j.json").write_text('{"value": 1.')
    fresh = Cache(tmp_path)  # the row format is read from disk, not remembered from the writer
    assert fresh.get_row("features", "k" * 64, f"{0:064x}") is None
    assert fresh.get_row("features", "k" * 64, f"{1:064x}") is None
    assert fresh.get_arrays("stats", "s") is None and fresh.get_json("memo", "j") is None
    for path in (*rows, npz, tmp_path / "memo" / "j.json"):
        assert f"cache entry {path} is damaged" in caplog.text
    fresh.put_row("features", "k" * 64, f"{0:064x}", np.full(8, 2, np.float32))  # the recomputed row replaces it
    np.testing.assert_array_equal(Cache(tmp_path).get_row("features", "k" * 64, f"{0:064x}"), np.full(8, 2))


def test_a_missing_entry_is_silent(tmp_path, caplog):
    cache = Cache(tmp_path)
    assert cache.get_row("features", "k" * 64, "a" * 64) is None and cache.get_arrays("stats", "s") is None
    assert cache.get_json("memo", "j") is None and not caplog.text
