"""`cxrgen-bench generate`: a prompt set through a registered generator, resumable and sharded."""
from __future__ import annotations

import argparse
import json

from .common import add_generation_flags, check_device, check_out, generation_settings

HELP = "generate images for a prompt set (resumable; multi-GPU via torchrun/accelerate)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prompts", required=True, help="prompts CSV (prompt_id, text, labels; image_path for --generator real)")
    p.add_argument("--out", required=True, help="output folder: {prompt_id}_{k}.png, manifest.csv, generation.json")
    p.add_argument("--profile", default="roentgen2022", help="profile whose generation block gives the defaults")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    add_generation_flags(p)


def run(args: argparse.Namespace) -> int:
    from ..generation import generate

    check_out(args.out, folder=True)
    check_device(args.device)
    summary = generate(generator=args.generator, model=args.model, prompts=args.prompts, out=args.out,
                       profile=args.profile, progress=not args.quiet, **generation_settings(args))
    print(json.dumps(summary, indent=2, sort_keys=True) if args.json else
          f"generated {summary['generated']} image(s), {summary['resumed']} already done, "
          f"{summary['images_per_s']:.2f} images/s (rank {summary['rank']} of {summary['world']})"
          + (f"; manifest: {summary['manifest']}" if "manifest" in summary else ""))
    return 0
