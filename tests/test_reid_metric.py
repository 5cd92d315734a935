"""The re-identification score (`reid`): CheXGenBench's privacy_metrics.py steps written out with random
Siamese weights in its checkpoint's format, and the known answer on phantoms — the stand-in that copies
training images is flagged — through the phantom evaluator (the memorisation study's route, since the
real Siamese weights cannot be had here)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cxrgen_bench.errors import WeightsNotFound
from cxrgen_bench.models.image import build_backbone
from cxrgen_bench.models.image.reid_siamese import SiameseReID
from cxrgen_bench.profiles import get_profile
from cxrgen_bench.scoring.runner import score

PROFILE = get_profile("chexgenbench2025")


@pytest.fixture(scope="module")
def siamese_checkpoint(tmp_path_factory) -> tuple[Path, SiameseReID]:
    torch.manual_seed(0)
    model = SiameseReID(128, 3).eval()
    for name, buf in model.named_buffers():
        if name.endswith("running_var"):
            buf.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("reid") / "ResNet-50_epoch11_data_handling_RPN.pth"
    torch.save(model.state_dict(), path)  # what CheXGenBench's load_state_dict(torch.load(...)) reads
    return path, model


@pytest.fixture(scope="module")
def privacy_set(real_cxr_jpegs, tmp_path_factory):
    """Two training prompts with their training image, three generated 512² samples each (RGB PNGs)."""
    root = tmp_path_factory.mktemp("privacy")
    gen, ref = root / "generated", root / "training"
    gen.mkdir()
    ref.mkdir()
    rng = np.random.default_rng(0)
    rows = ["prompt_id,text"]
    for i, path in enumerate(real_cxr_jpegs[8:10]):
        pid = f"p{i}"
        Image.open(path).save(ref / f"{pid}_0.png")
        base = np.asarray(Image.open(path).convert("RGB").resize((512, 512)), np.float64)
        for k in range(3):
            noisy = np.clip(base + rng.normal(0, 20 * (k + 1), base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(noisy, "RGB").save(gen / f"{pid}_{k}.png")
        rows.append(f"{pid},Prompt {i}.")
    (root / "prompts.csv").write_text("\n".join(rows) + "\n")
    return root


def their_scores(model: SiameseReID, real_path: Path, generated: list[Path]) -> list[float]:
    """privacy_metrics.py: real image resized to 512² then RGB; Resize((224, 224)) + ToTensor; sigmoid(model(a, b))."""
    from torchvision import transforms

    transform = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor()])
    real = Image.open(real_path).resize((512, 512)).convert("RGB")
    out = []
    with torch.no_grad():
        for path in generated:
            a, b = transform(real).unsqueeze(0), transform(Image.open(path).convert("RGB")).unsqueeze(0)
            out.append(float(torch.sigmoid(model.fc_end((model.embed(a) - model.embed(b)).abs()))))
    return out


def test_reid_follows_chexgenbench_steps(siamese_checkpoint, privacy_set, tmp_path):
    path, model = siamese_checkpoint
    result = score(images=privacy_set / "generated", reference=privacy_set / "training",
                   prompts=privacy_set / "prompts.csv", metrics=["reid"], profile="chexgenbench2025",
                   weights={"reid-siamese": str(path)}, cache_dir=tmp_path / "cache")
    mean, best = result["metrics"]["reid[mean]"], result["metrics"]["reid[max]"]
    per_prompt = []
    for pid in ("p0", "p1"):
        scores = their_scores(model, privacy_set / "training" / f"{pid}_0.png",
                              [privacy_set / "generated" / f"{pid}_{k}.png" for k in range(3)])
        per_prompt.append((np.mean(scores), max(scores)))
    np.testing.assert_allclose(mean["per_item"]["values"], [m for m, _ in per_prompt], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(best["per_item"]["values"], [b for _, b in per_prompt], rtol=1e-4, atol=1e-5)
    assert mean["value"] == pytest.approx(np.mean([m for m, _ in per_prompt]), rel=1e-4)
    assert mean["details"]["scorer"] == "pair score" and mean["details"]["pairing"] == "own-prompt"
    assert mean["n"]["effective"] == 6 and mean["details"]["samples_per_prompt"] == {"min": 3, "max": 3}
    assert all(b >= m for b, m in zip(best["per_item"]["values"], mean["per_item"]["values"]))
    assert (mean["value"], best["value"]) == pytest.approx((0.503427932659785, 0.5050567388534546), rel=1e-6)  # pinned


def test_missing_siamese_weights_give_the_usual_message():
    with pytest.raises(WeightsNotFound) as err:
        build_backbone("reid-siamese", PROFILE.backbone("reid-siamese"))
    assert "ResNet-50_epoch11_data_handling_RPN.pth" in str(err.value)


def reid_known_answer(workdir: Path) -> dict[str, dict]:
    """`reid` (nearest pairing, phantom evaluator) on phantom-faithful and phantom-copies-training, the
    reference being the training phantoms the copier copies."""
    from cxrgen_bench.calibration.dataset import PhantomDataset
    from cxrgen_bench.data.manifest import PromptSet
    from cxrgen_bench.generation.harness import run_generation
    from cxrgen_bench.generation.protocol import GenerationSettings
    from cxrgen_bench.registry import GENERATORS

    PhantomDataset(workdir / "train").prompts(limit=60, seed=11, size=128).write(workdir / "train" / "prompts.csv")
    prompts_csv = PhantomDataset().prompts(limit=20, seed=13).write(workdir / "prompts.csv")
    settings = GenerationSettings(resolution=128, samples_per_prompt=3, batch_size=16, seed=0)
    standins = {"phantom-faithful": GENERATORS.get("phantom-faithful")(settings=settings),
                "phantom-copies-training": GENERATORS.get("phantom-copies-training")(str(workdir / "train" / "images"),
                                                                                     settings)}
    profile = workdir / "reid-phantom.yaml"
    profile.write_text("extends: calibration-phantom\nname: reid-phantom\nversion: '1'\n"
                       "metrics:\n  reid: {backbone: phantom-evaluator, pairing: nearest, samples: all}\n")
    out = {}
    for name, generator in standins.items():
        run_generation(generator, PromptSet.from_csv(prompts_csv), workdir / name, settings)
        out[name] = score(images=workdir / name, reference=workdir / "train" / "images", prompts=prompts_csv,
                          reference_prompts=workdir / "train" / "prompts.csv", metrics=["reid"], profile=str(profile),
                          cache_dir=workdir / "cache")["metrics"]
    return out


def test_reid_flags_the_stand_in_that_copies_training_images(tmp_path):
    results = reid_known_answer(tmp_path)
    copies, faithful = results["phantom-copies-training"], results["phantom-faithful"]
    assert copies["reid[mean]"]["details"]["scorer"] == "cosine similarity"
    assert copies["reid[mean]"]["value"] > 0.99  # a near-copy of a training phantom for every sample
    assert faithful["reid[max]"]["value"] < copies["reid[mean]"]["value"] - 0.03  # even its closest is farther
    assert min(copies["reid[mean]"]["per_item"]["values"]) > max(faithful["reid[mean]"]["per_item"]["values"])
