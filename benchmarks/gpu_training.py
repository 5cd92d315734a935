"""Training throughput and peak memory on a GPU (issue 5): SD 1.4 architecture from its config with
random weights (speed does not depend on weight values), 512², batch 8 per GPU, bf16 — our trainer's
step (frozen VAE/text encoder in bf16, U-Net AdamW, optional gradient checkpointing, channels_last,
SDPA) vs the stock diffusers `train_text_to_image.py` settings (fp32 master weights under bf16
autocast via accelerate, no gradient checkpointing), measured in one run.

    python benchmarks/gpu_training.py --json gpu_training.json                   # H100 or H200
    python benchmarks/gpu_training.py --size tiny --device cpu --steps 2 --batch 2 --resolution 64   # smoke test
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F


def step_fn(pipe, batch, resolution, device, dtype, channels_last, checkpointing):
    unet, vae, text_encoder = pipe.unet, pipe.vae, pipe.text_encoder
    unet.train()
    if checkpointing:
        unet.enable_gradient_checkpointing()
    if channels_last:
        unet.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=5e-5)
    ids = pipe.tokenizer(["Small left pleural effusion."] * batch, padding="max_length", max_length=77,
                         return_tensors="pt").input_ids.to(device)
    pixels = torch.randn(batch, 3, resolution, resolution, device=device)

    def run():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            with torch.no_grad():
                latents = vae.encode(pixels.to(vae.dtype)).latent_dist.sample() * vae.config.scaling_factor
                hidden = text_encoder(ids)[0]
            noise = torch.randn_like(latents)
            t = torch.randint(0, 1000, (batch,), device=device)
            noisy = pipe.scheduler.add_noise(latents, noise, t)
            pred = unet(noisy, t, hidden).sample
            loss = F.mse_loss(pred.float(), noise.float())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    return run


def measure(name, run, steps, batch, device):
    run()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    row = {"config": name, "images_per_s": steps * batch / seconds, "peak_gib": peak}
    print(json.dumps(row))
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="sd14", choices=("sd14", "tiny"))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--resolution", type=int, default=512)
    ap.add_argument("--json")
    args = ap.parse_args()
    device = torch.device(args.device)
    from cxrgen_bench.generation.tiny import build_pipeline

    rows = []
    for name, frozen_dtype, autocast, channels_last, ckpt in (
            ("stock settings: fp32 weights, bf16 autocast", torch.float32, torch.bfloat16, False, False),
            ("ours: frozen parts bf16, bf16 autocast, channels_last", torch.bfloat16, torch.bfloat16, True, False),
            ("ours + gradient checkpointing", torch.bfloat16, torch.bfloat16, True, True)):
        if device.type != "cuda":
            frozen_dtype, autocast = torch.float32, torch.float32
        pipe = build_pipeline(args.size)
        pipe.vae.to(device, frozen_dtype)
        pipe.text_encoder.to(device, frozen_dtype)
        pipe.unet.to(device)
        run = step_fn(pipe, args.batch, args.resolution, device, autocast, channels_last, ckpt)
        rows.append(measure(name, run, args.steps, args.batch, device))
        del pipe, run
        if device.type == "cuda":
            torch.cuda.empty_cache()
    report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "batch": args.batch,
              "resolution": args.resolution, "rows": rows, "speedup_vs_stock": rows[1]["images_per_s"] / rows[0]["images_per_s"]}
    print(f"ours vs stock: {report['speedup_vs_stock']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
