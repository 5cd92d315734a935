import json

import pytest

from cxrgen_bench.errors import ResultsError
from cxrgen_bench.results import SCHEMA_PATH, dumps, read_result, validate, write_result


def minimal(**over):
    result = {"schema_version": "1", "kind": "measured", "status": "complete",
              "profile": {"name": "roentgen2022", "version": "1.0"}, "model": {"name": "m"},
              "metrics": {"fid[x]": {"metric": "fid", "version": "1", "direction": "lower", "value": 1.5}},
              "environment": {"cxrgen_bench": "0.1.0"}}
    result.update(over)
    return result


def test_schema_file_is_valid_json_schema():
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text()))


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
    ({"schema_version": "0"}, "schema_version '0' is not supported"),
    ({"kind": "guessed"}, "kind"),
    ({"metrics": {"a": {"metric": "a", "version": "1", "direction": "sideways", "value": 1}}}, "metrics/a/direction"),
    ({"extra": 1}, "Additional properties"),
])
def test_invalid_results_are_rejected_with_the_path(change, match, tmp_path):
    with pytest.raises(ResultsError, match=match):
        validate(minimal(**change))
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(ResultsError):
        write_result(minimal(**change), tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_read_errors(tmp_path):
    with pytest.raises(ResultsError, match="not found"):
        read_result(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ResultsError, match="not valid JSON"):
        read_result(tmp_path / "bad.json")
