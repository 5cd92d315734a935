"""Generation speed on a GPU: stock diffusers StableDiffusionPipeline (fp16, default settings) vs
our harness's generator at its best settings, SD 1.4 architecture from config with random weights
(speed does not depend on weight values), 512², 75 PNDM steps, guidance 4 — in one run.

    python benchmarks/gpu_generation.py                          # on an H100/H200
    python benchmarks/gpu_generation.py --size tiny --device cpu --steps 3 --images 4 --batches 2,4   # smoke test

Reports images/s and peak memory per configuration, the pixel difference between the stock output
and ours for the same noise, and the UNet's achieved TFLOP/s against the GPU's bf16 dense peak.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

BF16_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense, SXM


def unet_flops_per_image(pipe, resolution: int, device) -> float:
    """FLOPs of one UNet call for one image with classifier-free guidance (2 rows), counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    unet = pipe.unet
    side = resolution // pipe.vae_scale_factor
    x = torch.randn(2, unet.config.in_channels, side, side, device=device, dtype=unet.dtype)
    text = torch.randn(2, 77, unet.config.cross_attention_dim, device=device, dtype=unet.dtype)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        unet(x, torch.tensor([10, 10], device=device), encoder_hidden_states=text)
    return float(counter.get_total_flops())


def timed(fn, device) -> tuple[float, float, object]:
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return time.perf_counter() - start, peak, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="sd14", choices=("sd14", "tiny"))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=75)
    ap.add_argument("--resolution", type=int, default=None)
    ap.add_argument("--images", type=int, default=32, help="images per timed configuration")
    ap.add_argument("--batches", default="4,8,16,32", help="batch sizes to sweep for our harness")
    ap.add_argument("--precisions", default="bf16,fp16")
    ap.add_argument("--compile", default="off,on")
    ap.add_argument("--json", help="write all figures here")
    args = ap.parse_args()
    device = torch.device(args.device)
    resolution = args.resolution or (512 if args.size == "sd14" else 64)

    from diffusers import StableDiffusionPipeline

    from cxrgen_bench.generation import GenerationSettings, SampleRequest, sample_seed
    from cxrgen_bench.generation.tiny import save_pipeline
    from cxrgen_bench.generators.diffusers_pipeline import DiffusersGenerator

    folder = save_pipeline(Path(tempfile.mkdtemp()) / args.size, size=args.size)
    prompts = [f"Small left pleural effusion, case {i}." for i in range(args.images)]
    requests = [SampleRequest(f"p{i}", t, 0, sample_seed(0, f"p{i}", 0)) for i, t in enumerate(prompts)]
    report: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                    "size": args.size, "resolution": resolution, "steps": args.steps, "images": args.images, "runs": []}

    # --- stock: fp16, default settings, batch 1 per call as a user of the pipeline would write it ---
    dtype16 = torch.float16 if device.type == "cuda" else torch.float32
    stock = StableDiffusionPipeline.from_pretrained(str(folder), torch_dtype=dtype16, safety_checker=None,
                                                    requires_safety_checker=False).to(device)
    stock.set_progress_bar_config(disable=True)
    ours_reference = DiffusersGenerator(str(folder), GenerationSettings(steps=args.steps, resolution=resolution,
                                                                         precision="fp16" if device.type == "cuda" else "fp32",
                                                                         device=str(device)))
    latents, _ = ours_reference.latents(requests)

    def run_stock():
        images = []
        for i, text in enumerate(prompts):
            out = stock(text, num_inference_steps=args.steps, guidance_scale=4.0, height=resolution, width=resolution,
                        latents=latents[i:i + 1], output_type="np")
            images.append(out.images[0])
        return images

    run_stock() if args.images <= 2 else stock(prompts[0], num_inference_steps=2, height=resolution, width=resolution)
    seconds, peak, stock_images = timed(run_stock, device)
    flops = unet_flops_per_image(stock, resolution, device)
    report["unet_gflop_per_image_step"] = flops / 1e9
    report["runs"].append({"config": "stock diffusers fp16, batch 1", "images_per_s": args.images / seconds,
                           "peak_gib": peak})
    stock = None  # free the GPU memory before our runs
    if device.type == "cuda":
        torch.cuda.empty_cache()

    # --- ours: sweep precision × compile × batch size, VAE decoded in chunks of 8 ---
    best = None
    for precision in args.precisions.split(","):
        if device.type != "cuda" and precision != "fp32":
            precision = "fp32"
        for compiled in args.compile.split(","):
            settings = GenerationSettings(steps=args.steps, resolution=resolution, precision=precision,
                                          device=str(device), compile=compiled == "on", vae_batch_size=8)
            gen = DiffusersGenerator(str(folder), settings)
            gen.generate(requests[:2])  # warm-up (and compilation)
            for batch in (int(b) for b in args.batches.split(",")):
                def run():
                    images = []
                    for s in range(0, len(requests), batch):
                        images.extend(gen.generate(requests[s:s + batch]))
                    return images
                seconds, peak, images = timed(run, device)
                diff = np.abs(np.stack(images).astype(np.float32) - np.stack(stock_images).astype(np.float32))
                row = {"config": f"ours {precision}, compile {compiled}, batch {batch}", "images_per_s": args.images / seconds,
                       "peak_gib": peak, "max_abs_diff_vs_stock": float(diff.max()),
                       "mean_abs_diff_vs_stock": float(diff.mean())}
                row["unet_tflops"] = row["images_per_s"] * args.steps * flops / 1e12
                report["runs"].append(row)
                if best is None or row["images_per_s"] > best["images_per_s"]:
                    best = row
            gen = None
            if device.type == "cuda":
                torch.cuda.empty_cache()
    name = report["device"]
    peak_tflops = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
    report["best"] = best
    report["speedup_vs_stock"] = best["images_per_s"] / report["runs"][0]["images_per_s"]
    if peak_tflops:
        report["best_unet_fraction_of_bf16_peak"] = best["unet_tflops"] / peak_tflops
    for row in report["runs"]:
        print(json.dumps(row))
    print(f"best: {best['config']}  {report['speedup_vs_stock']:.2f}x stock")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
