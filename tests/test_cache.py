import multiprocessing as mp
import sqlite3

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


def _store(tmp_path):
    return next(tmp_path.rglob("rows.sqlite"))


def test_damaged_row_reads_as_missing(tmp_path, caplog):
    cache = Cache(tmp_path)
    cache.put_row("features", "k" * 64, "a" * 64, np.ones(3, np.float32))
    with sqlite3.connect(_store(tmp_path)) as db:  # a flipped byte: the checksum no longer matches
        db.execute("UPDATE rows SET data = ? WHERE item = ?", (np.zeros(3, np.float32).tobytes(), "a" * 64))
    assert Cache(tmp_path).get_row("features", "k" * 64, "a" * 64) is None
    assert "checksum mismatch" in caplog.text and "recomputing" in caplog.text


def test_disabled_cache_and_stable_keys(tmp_path):
    cache = Cache(tmp_path, enabled=False)
    cache.put_row("features", "k" * 64, "a" * 64, np.ones(3))
    assert cache.get_row("features", "k" * 64, "a" * 64) is None and not list(tmp_path.iterdir())
    assert key_of(a=1, b=[2, 3]) == key_of(b=[2, 3], a=1)


def test_damaged_entries_of_every_kind_read_as_missing_with_a_warning(tmp_path, caplog):
    """The module's promise: garbled rows, rows of another shape than the model declares, a store that is not
    a database, truncated arrays and JSON are recomputed, never a crash."""
    cache = Cache(tmp_path)
    for i in range(2):
        cache.put_row("features", "k" * 64, f"{i:064x}", np.ones(8, np.float32))
    cache.put_arrays("stats", "s", {"mu": np.ones(4), "n": np.array(3)})
    cache.put_json("memo", "j", {"value": 1.0})
    with sqlite3.connect(_store(tmp_path)) as db:
        db.execute("UPDATE rows SET shape = '2,4' WHERE item = ?", (f"{0:064x}",))  # well-formed, wrong shape
        db.execute("UPDATE rows SET dtype = 'not a dtype' WHERE item = ?", (f"{1:064x}",))
    npz = tmp_path / "stats" / "s.npz"
    npz.write_bytes(npz.read_bytes()[:40])
    (tmp_path / "memo" / "j.json").write_text('{"value": 1.')
    fresh = Cache(tmp_path)
    assert fresh.get_row("features", "k" * 64, f"{0:064x}", shape=(8,)) is None
    assert fresh.get_row("features", "k" * 64, f"{1:064x}") is None
    assert fresh.get_arrays("stats", "s") is None and fresh.get_json("memo", "j") is None
    for path in (npz, tmp_path / "memo" / "j.json"):
        assert f"cache entry {path} is damaged" in caplog.text
    assert "has shape [2, 4], the model's rows have [8]" in caplog.text and "not a dtype" in caplog.text
    fresh.put_row("features", "k" * 64, f"{0:064x}", np.full(8, 2, np.float32))  # the recomputed row replaces it
    np.testing.assert_array_equal(Cache(tmp_path).get_row("features", "k" * 64, f"{0:064x}"), np.full(8, 2))


def test_a_store_that_is_not_a_database_is_set_aside(tmp_path, caplog):
    cache = Cache(tmp_path)
    cache.put_row("features", "k" * 64, "a" * 64, np.ones(3, np.float32))
    store = _store(tmp_path)
    for side in store.parent.glob("rows.sqlite-*"):
        side.unlink()
    store.write_bytes(b"this is not a database" * 100)
    fresh = Cache(tmp_path)
    assert fresh.get_row("features", "k" * 64, "a" * 64) is None
    assert "is damaged" in caplog.text and (store.parent / "rows.sqlite.damaged").is_file()
    fresh.put_row("features", "k" * 64, "a" * 64, np.ones(3, np.float32))
    np.testing.assert_array_equal(Cache(tmp_path).get_row("features", "k" * 64, "a" * 64), np.ones(3))


def test_rows_must_have_the_models_declared_shape_even_when_they_agree(tmp_path, caplog):
    """Issue 27's silent wrong number: every row replaced by a 3-element zero array agreed with its neighbours
    (and the old row-shape.json), so FID read them as features and gave 0.0. The declared shape refuses them."""
    cache = Cache(tmp_path)
    cache.put_rows("features", "k" * 64, [(f"{i:064x}", np.zeros(3, np.float32)) for i in range(4)])
    rows = Cache(tmp_path).get_rows("features", "k" * 64, [f"{i:064x}" for i in range(4)], shape=(2048,))
    assert rows == [None] * 4 and caplog.text.count("the model's rows have [2048]") == 4


def test_an_old_cache_of_one_file_per_row_is_read_and_moved_into_the_store(tmp_path, caplog):
    folder = tmp_path / "features" / ("k" * 16)
    (folder / "aa").mkdir(parents=True)
    (folder / "bb").mkdir()
    (folder / "row-shape.json").write_text('{"shape": [8]}')
    np.save(folder / "aa" / ("a" * 64 + ".npy"), np.full(8, 5, np.float32))
    np.save(folder / "bb" / ("b" * 64 + ".npy"), np.zeros(3, np.float32))  # damaged: another shape
    cache = Cache(tmp_path)
    got = cache.get_rows("features", "k" * 64, ["a" * 64, "b" * 64, "c" * 64])
    np.testing.assert_array_equal(got[0], np.full(8, 5))
    assert got[1] is None and got[2] is None and "shape [3], the model's rows have [8]" in caplog.text
    (folder / "aa" / ("a" * 64 + ".npy")).unlink()  # now read from the store
    np.testing.assert_array_equal(Cache(tmp_path).get_row("features", "k" * 64, "a" * 64), np.full(8, 5))


def test_a_missing_entry_is_silent(tmp_path, caplog):
    cache = Cache(tmp_path)
    assert cache.get_row("features", "k" * 64, "a" * 64) is None and cache.get_arrays("stats", "s") is None
    assert cache.get_json("memo", "j") is None and not caplog.text
