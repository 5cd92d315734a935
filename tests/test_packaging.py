"""The installed layout: every package folder is listed in pyproject.toml, and the plug-ins folder
`generators/` is installed inside the package namespace (never as a top-level `generators`)."""
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def declared():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return config["packages"], config.get("package-dir", {})


def test_every_package_folder_is_declared():
    packages, mapping = declared()
    on_disk = set()
    for top, prefix in (("cxrgen_bench", "cxrgen_bench"), ("generators", mapping["cxrgen_bench.generators"])):
        assert prefix in ("cxrgen_bench", "generators")
        for init in (REPO / top).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / top).parts
            base = "cxrgen_bench" if top == "cxrgen_bench" else "cxrgen_bench.generators"
            on_disk.add(".".join((base, *rel)))
    assert on_disk == set(packages)
    # a folder of modules without __init__.py would be left out of the wheel silently
    for top in ("cxrgen_bench", "generators"):
        for folder in (REPO / top).rglob("*"):
            if folder.is_dir() and any(folder.glob("*.py")) and folder.name != "__pycache__":
                assert (folder / "__init__.py").is_file(), f"{folder} holds modules but no __init__.py"


def test_core_reaches_plugins_only_through_the_registry():
    offenders = []
    for path in (REPO / "cxrgen_bench").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            if ("import generators" in line or "from generators" in line
                    or "from cxrgen_bench.generators" in line or "from .generators" in line
                    or "from ..generators" in line):
                offenders.append(f"{path.relative_to(REPO)}: {line.strip()}")
    assert offenders == []


@pytest.mark.slow
def test_installed_wheel_has_no_top_level_generators(tmp_path):
    """Build the wheel and look inside: cxrgen_bench/generators/ is there, generators/ is not."""
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("cxrgen_bench-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "cxrgen_bench/generators/diffusers_pipeline.py" in names
    assert "cxrgen_bench/generators/roentgen/train.py" in names
    assert not any(n.startswith("generators/") for n in names)
    assert "cxrgen_bench/calibration/phantom_evaluator.safetensors" in names


def test_the_architecture_picture_is_the_layers_contract():
    """docs/architecture.md says its picture is the contract: the layers it draws are pyproject's, in order."""
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    contracts = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c.get("containers") == ["cxrgen_bench"])["layers"]
    text = (root / "docs" / "architecture.md").read_text()
    picture = text.split("## The layers", 1)[1].split("```", 2)[1]
    drawn = [re.split(r"\s{2,}", line.strip())[0].removeprefix("cxrgen_bench.")
             for line in picture.splitlines() if line.strip() and not line.startswith(" ")]
    assert drawn == layers
