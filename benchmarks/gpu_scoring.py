"""Feature extraction on a GPU for the three roentgen2022 backbones, from 512² PNG files with decoding
and preprocessing on CPU threads: images/s end to end, the decode-only and network-only rates that
bound it, and how far TF32 / bf16 move FID against strict float32 — in one run.

    python benchmarks/gpu_scoring.py --inception inception_fp16.safetensors --json gpu_scoring.json
    python benchmarks/gpu_scoring.py --device cpu --images 64 --batch-size 16 --workers 2   # smoke test

--inception: the FID Inception's tensors as safetensors (`weights convert` of default_1.pt; a
float16 copy travels to a GPU machine where the 84 MB original does not fit); without it the
Inception runs with random weights. XRV and CLIP run with random weights (speed does not depend on
weight values; the precision check then measures those random networks).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
from PIL import Image

NAMES = ("inception-v3-fid", "xrv-densenet121", "clip-vit-b-32")


def write_png(args) -> None:
    folder, i = args
    rng = np.random.default_rng(i)
    yy, xx = np.mgrid[0:512, 0:512]
    img = 128 + 80 * np.sin(xx / (10 + i % 7)) * np.cos(yy / (15 + i % 5)) + rng.normal(0, 10, (512, 512))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(Path(folder) / f"p{i:05d}_0.png")


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def set_precision(mode: str) -> None:
    """strict: float32 everywhere; default: PyTorch's defaults (cuDNN convolutions in TF32, matmuls in
    float32); tf32: both in TF32. bf16 runs under autocast on top of `default`."""
    torch.backends.cudnn.allow_tf32 = mode in ("default", "tf32", "bf16")
    torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--images", type=int, default=4096)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    ap.add_argument("--inception")
    ap.add_argument("--json")
    args = ap.parse_args()
    device = torch.device(args.device)

    import open_clip
    import torchxrayvision as xrv
    from safetensors.torch import load_file

    from cxrgen_bench.cache import Cache
    from cxrgen_bench.data import ImageSet
    from cxrgen_bench.data.images import read_image
    from cxrgen_bench.evaluation.features import extract_features
    from cxrgen_bench.functional import FeatureStats, frechet_distance_from_stats
    from cxrgen_bench.models.image import build_backbone
    from cxrgen_bench.models.image.inception_tf import TFInceptionV3
    from cxrgen_bench.profiles import get_profile

    torch.manual_seed(0)
    tmp = Path(tempfile.mkdtemp())
    start = time.perf_counter()
    with Pool(min(16, os.cpu_count() or 2)) as pool:
        pool.map(write_png, [(str(tmp), i) for i in range(args.images)])
    image_set = ImageSet.from_folder(tmp)
    records = image_set.records
    report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "torch": torch.__version__, "images": args.images, "batch_size": args.batch_size,
              "workers": args.workers, "cpu_count": os.cpu_count(), "png_write_s": round(time.perf_counter() - start, 1),
              "backbones": {}}
    profile = get_profile("roentgen2022")
    torch.save(xrv.models.DenseNet(weights=None), tmp / "xrv.pt")
    torch.save(open_clip.create_model("ViT-B-32-quickgelu", pretrained=None).state_dict(), tmp / "clip.pt")
    if args.inception:
        inception_sd = {k: v.float() for k, v in load_file(args.inception).items()}
        report["inception_weights"] = "real (float16 copy of default_1.pt)"
    else:
        inception_sd = {k: (torch.randn_like(v) * (2.0 / v[0].numel()) ** 0.5 if k.endswith("weight") else v)
                        for k, v in TFInceptionV3().state_dict().items()}
        report["inception_weights"] = "random"

    def backbone(name):
        cfg = profile.backbone(name)
        if name == "inception-v3-fid":
            net = build_backbone(name, cfg, state_dict=inception_sd, device=str(device))
        else:
            net = build_backbone(name, cfg, weights=str(tmp / ("xrv.pt" if "xrv" in name else "clip.pt")),
                                 allow_pickle=True, device=str(device))
        net.model  # load outside the timed regions
        return net, cfg

    half = args.images // 2
    for name in NAMES:
        net, cfg = backbone(name)
        prep, layer = cfg["preprocessing"], cfg["layer"]
        row: dict = {}
        # decode + preprocess only (the CPU side), with the same threads extract_features uses
        sample = records[:1024]
        begin = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as ex:
            inputs = list(ex.map(lambda r: net.preprocess(read_image(r.path).pixels, prep), sample))
        row["decode_preprocess_images_per_s"] = len(sample) / (time.perf_counter() - begin)
        # network only, on a preprocessed batch already on the device
        batch = torch.from_numpy(np.stack(inputs[:args.batch_size])).to(device)
        set_precision("default")
        with torch.inference_mode():
            net.forward(batch, layer)
            sync(device)
            begin = time.perf_counter()
            for _ in range(10):
                net.forward(batch, layer)
            sync(device)
        row["network_images_per_s"] = 10 * len(batch) / (time.perf_counter() - begin)
        # end to end, as `score` runs it (PyTorch's default precision)
        sync(device)
        begin = time.perf_counter()
        feats = extract_features(records, net, prep, layer, Cache(enabled=False), batch_size=args.batch_size,
                                 workers=args.workers)
        sync(device)
        row["end_to_end_images_per_s"] = args.images / (time.perf_counter() - begin)
        row["end_to_end_s"] = args.images / row["end_to_end_images_per_s"]
        # precision: FID between the two halves under each mode, relative to strict float32
        fids = {}
        for mode in ("strict", "default", "tf32", "bf16"):
            set_precision(mode)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=mode == "bf16"):
                f = feats if mode == "default" else extract_features(
                    records, net, prep, layer, Cache(enabled=False), batch_size=args.batch_size, workers=args.workers)
            fids[mode] = frechet_distance_from_stats(FeatureStats.from_features(f[:half]),
                                                     FeatureStats.from_features(f[half:])).value
        set_precision("default")
        row["fid_halves"] = fids
        row["fid_relative_change_vs_strict"] = {m: abs(v - fids["strict"]) / fids["strict"] for m, v in fids.items()}
        report["backbones"][name] = row
        print(name, json.dumps(row), flush=True)
        del net
        if device.type == "cuda":
            torch.cuda.empty_cache()
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
    total = sum(r["end_to_end_s"] for r in report["backbones"].values())
    report["three_backbones_images_per_s"] = args.images / total
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"three backbones together: {report['three_backbones_images_per_s']:.0f} images/s end to end")


if __name__ == "__main__":
    main()
