"""The shared training loop of the shipped calibration networks: deterministic, and each script's recipe
trains the network its loader reads (a few steps on a handful of phantoms, not the shipped run)."""
import sys

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from cxrgen_bench.calibration import train_attributes, train_evaluator, training
from cxrgen_bench.calibration.attributes import AttributeNet


def small_run(recipe: training.Recipe, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    train = training.phantom_dataset(recipe.draw, 128, seed, augment=True)
    validation = training.phantom_dataset(recipe.draw, 16, seed + 1, augment=False)
    model = recipe.model()
    training.fit(model, recipe, train, validation, epochs=1, seed=seed)
    return model.state_dict()


def test_phantom_datasets_are_drawn_from_their_seed():
    draw = train_attributes.RECIPE.draw
    (x1, y1), (x2, y2) = (training.phantom_dataset(draw, 8, 3, augment=True) for _ in range(2))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.shape == (8, 1, 128, 128) and y1.shape == (8, 2) and y1.dtype == torch.float32
    _, y_findings = training.phantom_dataset(train_evaluator.RECIPE.draw, 8, 3, augment=False)
    assert y_findings.shape == (8, 9) and y_findings.dtype == torch.float32


@pytest.mark.parametrize("recipe", [train_evaluator.RECIPE, train_attributes.RECIPE], ids=lambda r: r.script)
def test_the_loop_gives_the_same_weights_twice(recipe, capsys):
    a, b = small_run(recipe), small_run(recipe)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert capsys.readouterr().out.startswith("epoch 1: loss ")


def test_a_script_writes_weights_its_network_loads(tmp_path, monkeypatch, capsys):
    out = tmp_path / "attributes.safetensors"
    monkeypatch.setattr(training, "VALIDATION_IMAGES", 16)
    monkeypatch.setattr(sys, "argv", ["train_attributes", "--train", "64", "--epochs", "1", "--out", str(out)])
    train_attributes.main()
    AttributeNet().load_state_dict(load_file(str(out)))
    with safe_open(str(out), "pt") as f:
        assert f.metadata() == {"trained_by": "python -m cxrgen_bench.calibration.train_attributes", "seed": "0",
                                "train_images": "64", "epochs": "1"}
    assert "sex accuracy" in capsys.readouterr().out
