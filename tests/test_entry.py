"""The entry half of the metric contract: what a metric returns is a typed entry, written to and read
from schema v2 exactly. Stored results and the committed boards stay byte-identical through it."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cxrgen_bench.leaderboard.render import build
from cxrgen_bench.leaderboard.store import Store
from cxrgen_bench.results import read_result
from cxrgen_bench.results.entry import Entry, ResultView, SubgroupView
from cxrgen_bench.results.store import dumps
from cxrgen_bench.registry import METRICS

REPO = Path(__file__).resolve().parents[1]
BOARD = REPO / "leaderboard"
ENTRIES = sorted((BOARD / "entries").glob("*.json"))


def test_every_committed_entry_reads_and_writes_back_byte_for_byte():
    assert ENTRIES
    for path in ENTRIES:
        stored = json.loads(path.read_text(encoding="utf-8"))
        view = ResultView.of(stored)
        rewritten = {**stored, "metrics": {k: e.to_json() for k, e in view.entries.items()}}
        assert dumps(rewritten) == path.read_text(encoding="utf-8"), path.name
        assert view.entries and all(isinstance(e, Entry) for e in view.entries.values())


def test_the_committed_board_is_rebuilt_byte_for_byte_from_its_entries(tmp_path):
    root = tmp_path / "leaderboard"
    shutil.copytree(BOARD / "entries", root / "entries")
    shutil.copytree(BOARD / "meta", root / "meta")
    store = Store(root)
    written = build(store.load(), root, meta=store.load_meta())
    for name in ("README.md", "index.html", "leaderboard.csv", "leaderboard.tex"):
        assert written[name].read_bytes() == (BOARD / name).read_bytes(), name
    for rel in (p.relative_to(BOARD) for p in (BOARD / "plots").glob("*.svg")):
        assert (root / rel).read_bytes() == (BOARD / rel).read_bytes(), rel


def test_an_entry_keeps_absent_apart_from_null_and_keeps_keys_it_does_not_know():
    stored = {"key": "kid[x]", "metric": "kid", "version": "1", "value": None, "std": None,
              "n": {"requested": 4, "effective": 0}, "undefined": "no pair", "future_field": {"a": [1, 2]}}
    entry = Entry.read("kid[x]", stored)
    assert entry.std is None and entry.ci95 is None and entry.warnings == [] and entry.details == {}
    assert entry.extra == {"future_field": {"a": [1, 2]}} and entry.to_json() == stored
    entry.warn("a note")
    entry.ci95 = (0.1, 0.2)
    assert entry.to_json() == {**stored, "warnings": ["a note"], "ci95": [0.1, 0.2]}
    assert Entry.read("k", {"metric": "m", "version": "1", "value": 1.0}).to_json() == \
        {"metric": "m", "version": "1", "value": 1.0}  # a file that left the key out keeps it out


def test_a_per_group_view_round_trips_typed():
    view = {"groups": {"female": {"value": 6.7, "n": 24, "ci": [5.0, 8.0]},
                       "male": {"value": None, "n": 3, "ci": None, "too_small": True, "unknown": False}},
            "gap": {"value": 0.2, "ci": [0.0, 1.1], "replicates": [0.1, None]}, "worst": "female", "min_size": 20,
            "unknown": 0, "matched_n": 24, "over": "a study's own note"}
    entry = Entry.read("fid[a]", {"metric": "fid", "version": "1", "value": 3.0, "subgroups": {"sex": view}})
    typed = entry.subgroup("sex")
    assert isinstance(typed, SubgroupView) and typed.groups["female"].ci == (5.0, 8.0)
    assert typed.groups["male"].too_small and typed.gap.replicates == [0.1, None] and typed.worst_value() == 6.7
    assert entry.to_json()["subgroups"]["sex"] == view


def test_a_metric_builds_its_entries_with_its_card_and_plain_json_is_typed_on_the_way_in():
    metric = METRICS.get("kid")()
    entry = metric.entry("kid[x]", 0.5, 10, 8, {"a": 1}, std=None, bootstrap={"resamples": 2, "seed": 0,
                                                                              "replicates": [0.4, 0.6]})
    assert entry.metric == "kid" and entry.version == metric.card.version and entry.n.effective == 8
    assert entry.bootstrap.replicates == [0.4, 0.6] and entry.to_json()["std"] is None
    assert entry.to_json() == {"key": "kid[x]", "metric": "kid", "version": metric.card.version, "value": 0.5,
                               "n": {"requested": 10, "effective": 8}, "details": {"a": 1}, "std": None,
                               "bootstrap": {"resamples": 2, "seed": 0, "replicates": [0.4, 0.6]}}


@pytest.mark.parametrize("path", ENTRIES[:3], ids=lambda p: p.name)
def test_a_stored_result_is_the_same_object_through_the_store(path, tmp_path):
    result = read_result(path)
    store = Store(tmp_path)
    written = store.add(result, name=result.get("name") or path.stem)
    assert json.loads(written.read_text())["metrics"] == result["metrics"]
