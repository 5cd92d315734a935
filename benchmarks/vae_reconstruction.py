"""Images per second through the `diffusers` autoencoder plug-in, batched vs one image at a time.

The VAE is built from a config with seeded random weights (speed does not depend on weight values)
and saved with safetensors, then loaded by the plug-in exactly as a user's folder would be:
- ``tiny``: the test VAE (block_out_channels (8, 16), latent 4) at 32²;
- ``sd14``: the SD 1.4 VAE architecture (generation/tiny.py's SD14_VAE) at the given resolution.

    OMP_NUM_THREADS=2 python benchmarks/vae_reconstruction.py --vae tiny --images 64
    OMP_NUM_THREADS=2 python benchmarks/vae_reconstruction.py --vae sd14 --resolution 256 --images 8 --batch 4

Prints one JSON line per mode (best of --rounds, interleaved) and the largest difference between the
batched and one-by-one reconstructions.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

TINY = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, sample_size=32,
            block_out_channels=(8, 16), norm_num_groups=8,
            down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)


def main() -> None:
    from diffusers import AutoencoderKL

    from cxrgen_bench.generation.tiny import SD14_VAE
    from cxrgen_bench.registry import AUTOENCODERS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vae", choices=("tiny", "sd14"), default="tiny")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    torch.manual_seed(0)
    vae = AutoencoderKL(**(TINY if args.vae == "tiny" else SD14_VAE))
    with tempfile.TemporaryDirectory() as tmp:
        vae.save_pretrained(Path(tmp) / "vae", safe_serialization=True)
        ae = AUTOENCODERS.get("diffusers")(str(Path(tmp) / "vae"))
        x = torch.rand(args.images, 3, args.resolution, args.resolution) * 2 - 1
        ae.reconstruct(x[:1])  # load and warm up
        best = {"batched": float("inf"), "one-by-one": float("inf")}
        for _ in range(args.rounds):
            for mode, size in (("batched", args.batch), ("one-by-one", 1)):
                start = time.perf_counter()
                out = torch.cat([ae.reconstruct(x[i:i + size]) for i in range(0, len(x), size)])
                best[mode] = min(best[mode], time.perf_counter() - start)
                if mode == "batched":
                    batched = out
                else:
                    diff = float((out - batched).abs().max())
    for mode, seconds in best.items():
        print(json.dumps({"vae": args.vae, "resolution": args.resolution, "mode": mode,
                          "batch": args.batch if mode == "batched" else 1, "images": args.images,
                          "threads": torch.get_num_threads(), "seconds": round(seconds, 3),
                          "images_per_s": round(args.images / seconds, 1)}))
    print(json.dumps({"max_abs_difference_batched_vs_one_by_one": diff}))


if __name__ == "__main__":
    main()
