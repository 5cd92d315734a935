import json

import pytest

from cxrgen_bench.errors import ResultsError
from cxrgen_bench.results import SCHEMA_PATH, dumps, read_result, upgrade, validate, write_result


def minimal(**over):
    result = {"schema_version": "2", "kind": "measured", "status": "complete",
              "profile": {"name": "roentgen2022", "version": "1.0"}, "model": {"name": "m"},
              "subject": {"kind": "image-set", "content_sha256": "a" * 64, "n_images": 4, "n_prompts": 2},
              "metrics": {"fid[x]": {"metric": "fid", "version": "1", "value": 1.5}},
              "environment": {"cxrgen_bench": "0.1.0"}}
    result.update(over)
    return result


def minimal_v1(**over):
    result = {"schema_version": "1", "kind": "measured", "status": "complete",
              "profile": {"name": "roentgen2022", "version": "1.0"}, "model": {"name": "m"},
              "image_set": {"content_sha256": "a" * 64, "n_images": 4, "n_prompts": 2},
              "metrics": {"fid[x]": {"metric": "fid", "version": "1", "direction": "lower", "range": [0, None],
                                     "value": 1.5}},
              "environment": {"cxrgen_bench": "0.1.0"}}
    result.update(over)
    return result


def test_schema_files_are_valid_json_schema():
    import jsonschema

    for path in (SCHEMA_PATH, SCHEMA_PATH.with_name("schema-v1.json")):
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_roundtrip_and_stable_bytes(tmp_path):
    path = write_result(minimal(), tmp_path / "r.json")
    assert read_result(path) == minimal()
    assert path.read_text() == dumps(minimal())


def test_nan_becomes_null(tmp_path):
    r = minimal()
    r["metrics"]["fid[x]"]["value"] = float("nan")
    path = write_result(r, tmp_path / "r.json")
    assert read_result(path)["metrics"]["fid[x]"]["value"] is None


@pytest.mark.parametrize("change,match", [
    ({"schema_version": "0"}, "schema_version '0' is not"),
    ({"kind": "guessed"}, "kind"),
    # direction and range live on the metric's card: a results file carrying a copy is refused
    ({"metrics": {"a": {"metric": "a", "version": "1", "direction": "lower", "value": 1}}}, "metrics/a"),
    ({"extra": 1}, "Additional properties"),
    ({"subject": {"kind": "image-set", "content_sha256": "a" * 64}}, "subject"),  # image sets need counts
])
def test_invalid_results_are_rejected_with_the_path(change, match, tmp_path):
    with pytest.raises(ResultsError, match=match):
        validate(minimal(**change))
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(ResultsError):
        write_result(minimal(**change), tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_measured_results_need_a_subject():
    result = minimal()
    del result["subject"]
    with pytest.raises(ResultsError, match="subject"):
        validate(result)


def test_version_1_files_are_validated_then_migrated(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps(minimal_v1()))
    result = read_result(path)
    assert result["schema_version"] == "2"
    assert result["subject"] == {"kind": "image-set", "content_sha256": "a" * 64, "n_images": 4, "n_prompts": 2}
    assert "image_set" not in result and result["metrics"]["fid[x]"] == {"metric": "fid", "version": "1", "value": 1.5}
    bad = minimal_v1(metrics={"a": {"metric": "a", "version": "1", "direction": "sideways", "value": 1}})
    with pytest.raises(ResultsError, match="version 1.*metrics/a/direction"):
        upgrade(bad)
    with pytest.raises(ResultsError, match="not the current version"):
        validate(minimal_v1())  # writing always produces the current version


def test_read_errors(tmp_path):
    with pytest.raises(ResultsError, match="not found"):
        read_result(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ResultsError, match="not valid JSON"):
        read_result(tmp_path / "bad.json")


@pytest.mark.parametrize("field,value,match", [
    ("value", float("nan"), r"'fid\[x\]' has value nan, not a finite number"),
    ("value", float("-inf"), "has value -inf"),
    ("value", -1.0, r"value -1.0, outside the range \[0.0, inf\] of the fid metric's card"),
    ("std", float("inf"), "has std inf"),
    ("ci95", [0.0, float("nan")], r"ci95\[1\] nan"),
])
def test_numbers_must_be_finite_and_inside_the_cards_range(field, value, match, tmp_path):
    r = minimal()
    r["metrics"]["fid[x]"][field] = value
    (tmp_path / "r.json").write_text(json.dumps(r))
    with pytest.raises(ResultsError, match=match):
        read_result(tmp_path / "r.json")


def test_a_complete_result_holds_no_failed_metric():
    r = minimal()
    r["metrics"]["fid[x]"].update(value=None, error="weights missing")
    with pytest.raises(ResultsError, match="status is 'complete' but metric 'fid\\[x\\]' failed \\(weights missing\\)"):
        validate(r)
    assert validate({**r, "status": "partial"})


def test_a_failed_write_keeps_the_results_and_says_where(tmp_path, monkeypatch):
    import errno

    from cxrgen_bench.errors import ResultsNotWritten
    from cxrgen_bench.results import store

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "atomic_write_text", full)
    monkeypatch.setattr(store.tempfile, "tempdir", str(tmp_path))
    with pytest.raises(ResultsNotWritten, match="No space left on device.*saved to") as raised:
        write_result(minimal(), tmp_path / "out" / "r.json")
    assert raised.value.exit_code == 1 and raised.value.fallback.parent == tmp_path
    assert read_result(raised.value.fallback) == minimal() and not (tmp_path / "out" / "r.json").exists()
