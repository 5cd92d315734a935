"""docs/architecture.md's "Adding a metric" runs as written: the module it shows, installed as a third
party would install it, is scored, validated in a profile, listed with its settings and put on a board."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from cxrgen_bench.cli import main
from cxrgen_bench.errors import InputError

from .conftest import write_gray

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def example_module() -> str:
    block = DOC.read_text(encoding="utf-8").split("<!-- example-metric:start -->", 1)[1]
    return re.search(r"```python\n(.*?)```", block, re.S).group(1)


@pytest.fixture
def installed(plugins, tmp_path):
    site = plugins({"cxrgen_bench.metrics": {"mean_brightness": "arch_example:MeanBrightness"}})
    (site / "arch_example.py").write_text(example_module(), encoding="utf-8")
    images = tmp_path / "images"
    for i in range(6):
        for k in range(2):
            write_gray(images / f"p{i}_{k}.png", np.full((32, 32), 20 * i + 10 * k, np.uint8))
    return images


def test_the_documented_metric_scores_with_its_settings_and_a_ci(installed, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["score", "--images", str(installed), "--metrics", "mean_brightness", "--bootstrap", "50",
                 "--out", str(out)]) == 0
    entry = json.loads(out.read_text())["metrics"]["mean_brightness"]
    expected = np.mean([20 * i / 255 for i in range(6)])  # first samples: 0, 20, …, 100 grey levels
    assert entry["value"] == pytest.approx(expected) and entry["details"] == {"samples": "first"}
    assert entry["ci95"][0] <= entry["value"] <= entry["ci95"][1] and len(entry["per_item"]["ids"]) == 6

    profile = tmp_path / "p.yaml"
    profile.write_text("extends: roentgen2022\nname: p\nversion: '1'\nmetrics:\n  mean_brightness: {samples: all}\n")
    assert main(["score", "--images", str(installed), "--metrics", "mean_brightness", "--profile", str(profile),
                 "--out", str(out)]) == 0
    assert json.loads(out.read_text())["metrics"]["mean_brightness"]["n"]["effective"] == 12
    capsys.readouterr()
    assert main(["ls", "metrics", "mean_brightness"]) == 0
    assert "floor" in capsys.readouterr().out


def test_the_documented_metric_refuses_a_misspelt_key(installed, tmp_path):
    from cxrgen_bench.profiles import get_profile

    profile = tmp_path / "p.yaml"
    profile.write_text("extends: roentgen2022\nname: p\nversion: '1'\nmetrics:\n  mean_brightness: {sample: all}\n")
    with pytest.raises(InputError, match=r"unknown setting 'sample' \(did you mean 'samples'\?\)"):
        get_profile(str(profile))
