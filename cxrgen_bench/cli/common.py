"""What several commands share: the progress/log line, the generation flags, and the checks that refuse a
bad flag before any work (a typo must not cost an hour of computing first). The flag parsers that
studies need too are in `cxrgen_bench.flags`, below both."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from ..flags import positive_int

# The checks that refuse a bad flag before any work live with the runner, which the Python API shares;
# the commands import them from here as before.
from ..scoring.checks import check_device, check_metric_options, check_out  # noqa: F401
from ..results.entry import ResultView

GENERATION_FLAGS = ("samples_per_prompt", "batch_size", "steps", "guidance_scale", "resolution", "seed", "scheduler",
                    "precision", "device", "compile", "vae_batch_size", "allow_pickle")


def log(msg: str) -> None:
    from ..distributed import world

    here = world()  # under torchrun every process logs: say which one
    print(f"[cxrgen-bench{f' rank {here.rank}' if here.size > 1 else ''}] {msg}", file=sys.stderr, flush=True)


def add_generation_flags(p: argparse.ArgumentParser, for_score: bool = False, generator: bool = True) -> None:
    """The generation flags; ``for_score``: --device, --batch-size and --allow-pickle are the scoring ones,
    ``generator=False``: the command chooses the generator and the model itself (sweep)."""
    g = p.add_argument_group("generation (defaults from the profile's generation block)")
    if generator:
        g.add_argument("--generator", required=not for_score,
                       help="registered generator: diffusers, folder, real, callable, or a plug-in"
                       + ("; with score: generate into --images first, then score" if for_score else ""))
        g.add_argument("--model", help="pipeline folder (diffusers), image folder (folder), dataset root (real), "
                                       "module:function (callable)")
    g.add_argument("--samples-per-prompt", type=positive_int, help="images per prompt (roentgen2022: 4)")
    g.add_argument("--steps", type=positive_int, help="denoising steps (roentgen2022: 75)")
    g.add_argument("--guidance-scale", type=float, help="classifier-free guidance (roentgen2022: 4)")
    g.add_argument("--resolution", type=positive_int, help="image side in pixels (roentgen2022: 512)")
    g.add_argument("--seed", type=int, help="global seed; each image's seed derives from (seed, prompt id, sample)")
    g.add_argument("--scheduler", help="pndm (roentgen2022), ddim, dpm++2m, euler, euler-a, unipc, ddpm")
    g.add_argument("--precision", help="auto (fp16 on CUDA, fp32 on CPU), fp32, fp16, bf16")
    g.add_argument("--compile", action="store_true", default=None, help="torch.compile the denoiser (GPU)")
    g.add_argument("--vae-batch-size", type=positive_int, help="decode latents in chunks of this size (memory)")
    if not for_score:
        g.add_argument("--device", help="auto (cuda:LOCAL_RANK if available), cpu, cuda, cuda:1, ...")
        g.add_argument("--batch-size", type=positive_int, help="images per generator call")
        g.add_argument("--allow-pickle", action="store_true", default=None,
                       help="accept pickle (.bin/.ckpt) weights in the checkpoint folder")


def generation_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in GENERATION_FLAGS if getattr(args, k, None) is not None}


def process_device(device: str) -> str:
    """--device of a process under torchrun / accelerate launch: "cuda" means this process's GPU (LOCAL_RANK)."""
    import os

    from ..distributed import world

    if world().size > 1 and device == "cuda":
        device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    check_device(device)
    return device


def curve_table(results: list[dict[str, Any]]) -> str:
    """Results over training steps as a terminal table: one row per checkpoint, one column per results key."""
    views = [ResultView.of(r) for r in results]
    keys = sorted({k for v in views for k in v.entries})
    lines = ["step      " + "  ".join(f"{k:>24s}" for k in keys)]
    for view in views:
        values = [e.value if (e := view.entry(k)) is not None else None for k in keys]
        step = view.subject.get("step")
        lines.append(f"{'—' if step is None else step:<9} " + "  ".join("—".rjust(24) if v is None else f"{v:24.4f}"
                                                                       for v in values))
    return "\n".join(lines)


def add_set_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="change one setting of the profile for this run, e.g. ms_ssim.resize=512 or ms_ssim.samples_per_prompt=null (repeatable; recorded in the results, whose profile then differs from the unchanged one; `cxrgen-bench ls profiles NAME` lists the settings)")


def profile_of(args: argparse.Namespace) -> Any:
    """--profile with the --set overrides applied (the profile's name when there are none)."""
    if not getattr(args, "overrides", None):
        return args.profile
    from ..profiles import get_profile

    return get_profile(args.profile).with_overrides(args.overrides)
