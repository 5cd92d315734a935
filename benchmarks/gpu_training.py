"""Training throughput and peak memory on a GPU (issue 5): SD 1.4 architecture from its config with
random weights (speed does not depend on weight values), 512², batch 8 per GPU, bf16 — our trainer's
step (frozen VAE/text encoder in bf16, fp32 U-Net under bf16 autocast, SDPA) with channels_last, fused
AdamW, cached VAE latents, torch.compile and gradient checkpointing added one at a time, vs the stock
diffusers `train_text_to_image.py` settings, measured in one run; MFU = FLOPs counted by torch
(U-Net forward+backward, plus the VAE encode when it runs) × images/s over the bf16 dense peak.

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


def step_fn(pipe, batch, resolution, device, dtype, channels_last, checkpointing, fused=False, cached=False,
            compile_mode=None):
    unet, vae, text_encoder = pipe.unet, pipe.vae, pipe.text_encoder
    unet.train()
    if checkpointing:
        unet.enable_gradient_checkpointing()
    if channels_last:
        unet.to(memory_format=torch.channels_last)
    # fused: one kernel for the whole parameter update instead of a chain per tensor group
    optimizer = torch.optim.AdamW(unet.parameters(), lr=5e-5, fused=fused or None)
    forward = torch.compile(unet, mode=compile_mode) if compile_mode else unet
    ids = pipe.tokenizer(["Small left pleural effusion."] * batch, padding="max_length", max_length=77,
                         return_tensors="pt").input_ids.to(device)
    pixels = torch.randn(batch, 3, resolution, resolution, device=device)
    # The VAE is frozen: its latent distribution (mean, std) can be computed once per image and cached;
    # a step then only samples from it.
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
        stored = vae.encode(pixels.to(vae.dtype)).latent_dist if cached else None

    def run():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            with torch.no_grad():
                dist = stored or vae.encode(pixels.to(vae.dtype)).latent_dist
                latents = dist.sample() * vae.config.scaling_factor
                hidden = text_encoder(ids)[0]
            noise = torch.randn_like(latents)
            t = torch.randint(0, 1000, (batch,), device=device)
            noisy = pipe.scheduler.add_noise(latents, noise, t)
            pred = forward(noisy, t, hidden).sample
            loss = F.mse_loss(pred.float(), noise.float())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    return run


def count_flops(pipe, batch, resolution, device) -> dict:
    """Per-image FLOPs of the U-Net forward+backward and of the VAE encode, counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    side = resolution // 8
    x = torch.randn(1, 4, side, side, device=device)
    hidden = torch.randn(1, 77, pipe.unet.config.cross_attention_dim, device=device)
    with FlopCounterMode(display=False) as counter:
        pipe.unet(x, torch.tensor([10], device=device), hidden).sample.float().pow(2).mean().backward()
    unet = counter.get_total_flops()
    pipe.unet.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        pipe.vae.encode(torch.randn(1, 3, resolution, resolution, device=device, dtype=pipe.vae.dtype))
    return {"unet_fwd_bwd": float(unet), "vae_encode": float(counter.get_total_flops())}


def measure(name, run, steps, batch, device):
    start = time.perf_counter()
    run()  # warm-up (and compilation)
    run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    warmup = time.perf_counter() - start
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
    row = {"config": name, "images_per_s": steps * batch / seconds, "peak_gib": peak, "warmup_s": round(warmup, 1)}
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
    ap.add_argument("--only", help="comma-separated indices of the configurations to run")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU (H100/H200 SXM: 989)")
    args = ap.parse_args()
    device = torch.device(args.device)
    from cxrgen_bench.generation.tiny import build_pipeline

    rows = []
    flops = None
    configs = (  # name, frozen dtype, autocast, channels_last, checkpointing, fused AdamW, cached latents, compile
        # train_text_to_image.py: trained U-Net in fp32 under bf16 autocast, frozen VAE/text encoder cast to bf16,
        # AdamW with PyTorch's default (foreach) update, no channels_last, no compile
        ("stock train_text_to_image.py settings", torch.bfloat16, torch.bfloat16, False, False, False, False, None),
        ("ours: + channels_last", torch.bfloat16, torch.bfloat16, True, False, False, False, None),
        ("ours + fused AdamW", torch.bfloat16, torch.bfloat16, True, False, True, False, None),
        ("ours + fused AdamW + cached latents", torch.bfloat16, torch.bfloat16, True, False, True, True, None),
        ("ours + fused AdamW + compile", torch.bfloat16, torch.bfloat16, True, False, True, False, "default"),
        ("ours + fused AdamW + cached latents + compile", torch.bfloat16, torch.bfloat16, True, False, True, True, "default"),
        ("ours + gradient checkpointing", torch.bfloat16, torch.bfloat16, True, True, True, False, None))
    only = set(args.only.split(",")) if args.only else None
    for i, (name, frozen_dtype, autocast, channels_last, ckpt, fused, cached, mode) in enumerate(configs):
        if only and str(i) not in only:
            continue
        if device.type != "cuda":
            frozen_dtype, autocast, fused = torch.float32, torch.float32, False
        pipe = build_pipeline(args.size)
        pipe.vae.to(device, frozen_dtype)
        pipe.text_encoder.to(device, frozen_dtype)
        pipe.unet.to(device)
        if flops is None:
            flops = count_flops(pipe, args.batch, args.resolution, device)
        run = step_fn(pipe, args.batch, args.resolution, device, autocast, channels_last, ckpt, fused, cached, mode)
        row = measure(name, run, args.steps, args.batch, device)
        done = flops["unet_fwd_bwd"] + (0 if cached else flops["vae_encode"])
        row["tflops"] = row["images_per_s"] * done / 1e12
        row["mfu"] = row["tflops"] / args.peak_tflops
        rows.append(row)
        if args.json:
            Path(args.json).write_text(json.dumps({"rows": rows, "flops_per_image": flops}, indent=2))
        del pipe, run
        if device.type == "cuda":
            torch.cuda.empty_cache()
    report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "torch": torch.__version__,
              "batch": args.batch, "resolution": args.resolution, "steps": args.steps, "flops_per_image": flops,
              "peak_tflops": args.peak_tflops, "rows": rows,
              "best_speedup_vs_stock": max(r["images_per_s"] for r in rows) / rows[0]["images_per_s"]}
    for r in rows:
        print(f"{r['config']:48s} {r['images_per_s']:7.2f} images/s  {r['peak_gib']:6.1f} GiB  MFU {r['mfu']:.1%}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
