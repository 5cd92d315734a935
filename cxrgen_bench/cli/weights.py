"""`cxrgen-bench weights where|convert`: where each backbone's weights are looked for and found;
official files converted once to safetensors."""
from __future__ import annotations

import argparse
import json

from ..errors import CxrgenError

HELP = "where weights are looked for; convert official files to safetensors"


def add_arguments(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("where", help="the files each backbone would load, or what is missing and where to put it")
    a.add_argument("backbone", nargs="?", help="one backbone (default: every backbone of the profile)")
    a.add_argument("--json", action="store_true")
    a.add_argument("--offline", action="store_true", help="only look, never download a missing file (also: "
                                                          "HF_HUB_OFFLINE=1 or CXRGEN_OFFLINE=1)")
    a.set_defaults(func=run_where)
    a = actions.add_parser("convert", help="load an official file once (checked) and write safetensors")
    a.add_argument("backbone")
    a.add_argument("source", help="the official weights file")
    a.add_argument("--out", help="destination .safetensors (default: $CXRGEN_WEIGHTS, else beside the source)")
    a.add_argument("--allow-pickle", action="store_true", help="trust a pickle/TorchScript source file")
    a.set_defaults(func=run_convert)
    for a in actions.choices.values():
        a.add_argument("--profile", default="roentgen2022")


def run_where(args: argparse.Namespace) -> int:
    from ..models.weights import WeightsSpec, describe_spec, is_offline, resolve_weights
    from ..profiles import get_profile
    from .common import log

    profile = get_profile(args.profile)
    offline = args.offline or is_offline()
    log("offline: only looking, nothing is downloaded" if offline else
        "online: a missing file with a published address is downloaded (--offline or HF_HUB_OFFLINE=1: only look)")
    status = 0
    for name in [args.backbone] if args.backbone else list(profile.backbones):
        cfg = profile.backbone(name)
        if cfg.get("kind") == "transformers" or cfg.get("folder"):
            print(f"{name}: a model folder: {cfg.get('folder') or f'(give it with --weights {name}=FOLDER)'}")
            continue
        spec = WeightsSpec.from_profile(name, cfg)
        try:
            found = resolve_weights(spec, None, offline=offline)
            print(f"{name}: {found.path} (sha256 {found.sha256}, from {found.source}"
                  f"{', matches ' + found.known.filename if found.known else ''})")
        except CxrgenError as exc:
            status = 2
            print(f"{name}: {exc}\n")
        if args.json:
            print(json.dumps(describe_spec(spec), indent=2))
    return status


def run_convert(args: argparse.Namespace) -> int:
    import os

    from ..models.conversion import convert
    from ..models.weights import ENV_DIR
    from ..profiles import get_profile

    dest = convert(args.backbone, args.source, get_profile(args.profile), args.out, args.allow_pickle)
    print(f"wrote {dest}; use it with --weights {args.backbone}={dest}"
          + ("" if os.environ.get(ENV_DIR) else f" or put it in ${ENV_DIR}"))
    return 0
