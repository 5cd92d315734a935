"""`cxrgen-bench weights status|fetch|bundle|install|verify|where|convert`: what a profile's metrics can
compute with the models on this machine; every model fetched from its official source into the weights
folder, with a lock; carried to machines without internet as one verified tar; where each backbone's
weights are looked for and found; official files converted once to safetensors."""
from __future__ import annotations

import argparse
import json

from ..errors import CxrgenError

HELP = "what can be scored with the weights here; fetch, bundle, install and verify them; convert official files"
FOLDER_HELP = "the weights folder (default: $CXRGEN_WEIGHTS, else ~/.cache/cxrgen-bench/weights)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("status", help="which metrics of the profile can run with the models found here, which "
                                          "models are missing, where each goes and how to fetch or convert it")
    a.add_argument("--metrics", help="only these metrics (as score --metrics; default: every metric of the profile)")
    a.add_argument("--weights", action="append", default=[], metavar="NAME=PATH",
                   help="a weights file or model folder for a model (repeatable), as score takes it")
    a.add_argument("--json", action="store_true", help="print the status as JSON")
    a.set_defaults(func=run_status)
    a = actions.add_parser("fetch", help="download every model the profile's metrics load from its official source "
                                         "into the weights folder, with a lock (resumes an interrupted download)")
    a.add_argument("--only", nargs="+", metavar="MODEL", help="only these models (names as `weights status` lists)")
    a.add_argument("--to", metavar="DIR", help=FOLDER_HELP)
    a.add_argument("--allow-pickle", action="store_true", help="convert a pickled or TorchScript file whose hash no "
                                                                "publisher states to safetensors (recorded in the lock)")
    a.add_argument("--offline", action="store_true", help="never touch the network: only say what is here and what "
                                                          "a fetch would download")
    a.add_argument("--quiet", action="store_true", help="no progress bars")
    a.set_defaults(func=run_fetch)
    a = actions.add_parser("bundle", help="one tar of every weight file the profile loads (and its lock), to carry "
                                          "to a machine without internet")
    a.add_argument("--out", required=True, metavar="FILE.tar", help="the bundle to write")
    a.add_argument("--only", nargs="+", metavar="MODEL", help="only these models")
    a.add_argument("--to", metavar="DIR", help=f"{FOLDER_HELP}: where the fetched files are")
    a.set_defaults(func=run_bundle)
    a = actions.add_parser("install", help="a bundle's models into the weights folder, each file checked against "
                                           "the bundle's lock first")
    a.add_argument("bundle", metavar="FILE.tar", help="a bundle written by `weights bundle`")
    a.add_argument("--to", metavar="DIR", help=FOLDER_HELP)
    a.set_defaults(func=run_install)
    a = actions.add_parser("verify", help="re-hash every file of the weights folder against its lock")
    a.add_argument("--to", metavar="DIR", help=FOLDER_HELP)
    a.set_defaults(func=run_verify)
    a = actions.add_parser("where", help="the files each backbone would load, or what is missing and where to put it")
    a.add_argument("backbone", nargs="?", help="one backbone (default: every backbone of the profile)")
    a.add_argument("--json", action="store_true", help="also print each backbone's accepted files as JSON")
    a.add_argument("--offline", action="store_true", help="only look, never download a missing file (also: "
                                                          "HF_HUB_OFFLINE=1 or CXRGEN_OFFLINE=1)")
    a.set_defaults(func=run_where)
    a = actions.add_parser("convert", help="load an official file once (checked) and write safetensors")
    a.add_argument("backbone", help="the backbone the file is for (a name of the profile's backbones, e.g. "
                                    "xrv-densenet121)")
    a.add_argument("source", help="the official weights file")
    a.add_argument("--out", help="destination .safetensors (default: $CXRGEN_WEIGHTS, else beside the source)")
    a.add_argument("--allow-pickle", action="store_true", help="trust a pickle/TorchScript source file")
    a.set_defaults(func=run_convert)
    for name, a in actions.choices.items():
        if name not in ("install", "verify"):
            a.add_argument("--profile", default="roentgen2022", help="profile name or YAML file (default: roentgen2022)")


def run_status(args: argparse.Namespace) -> int:
    from ..flags import parse_weights
    from ..scoring.weights_status import format_plan, plan

    status = plan(args.profile, args.metrics, parse_weights(args.weights))
    print(json.dumps(status, indent=2) if args.json else format_plan(status))
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    from ..models.weights import is_offline
    from ..scoring.weights_fetch import fetch
    from .common import log

    offline = args.offline or is_offline()
    log("offline: nothing is downloaded; what is here and what a fetch would get:" if offline else
        "fetching what is not here yet (an interrupted download continues where it stopped)")
    outcomes = fetch(args.profile, args.only, args.to, args.allow_pickle, offline, progress=not args.quiet)
    waiting = [o for o in outcomes if not o.ready]
    print(f"{len(outcomes) - len(waiting)} of {len(outcomes)} models ready" + (
        "; not ready: " + ", ".join(f"{o.model} ({o.state})" for o in waiting) if waiting else ""))
    if args.to:
        print(f"use them with: export CXRGEN_WEIGHTS={args.to}")
    print(f"then: cxrgen-bench weights status --profile {args.profile}")
    return 1 if waiting else 0


def run_bundle(args: argparse.Namespace) -> int:
    from ..scoring.weights_fetch import bundle

    path, missing = bundle(args.profile, args.out, args.to, args.only)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); on the other machine: cxrgen-bench weights install "
          f"{path.name} [--to DIR]")
    if missing:
        print(f"not in the bundle (not on this machine): {', '.join(missing)}")
    return 1 if missing else 0


def run_install(args: argparse.Namespace) -> int:
    from ..scoring.weights_fetch import install

    models = install(args.bundle, args.to)
    print(f"installed {len(models)} model(s), every file checked against the bundle's lock")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from ..scoring.weights_fetch import verify

    lock, problems, n = verify(args.to)
    for problem in problems:
        print(problem)
    print(f"{lock}: {n - len(problems)} of {n} files match" + ("" if not problems else
                                                                 "; fetch or install the others again"))
    return 1 if problems else 0


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
