"""The `cxrgen-bench` command. Thin: every flag is an argument of the Python call it makes, and
`--json` prints exactly the object that call returns.

Exit codes: 0 success; 1 a result was written but is partial (a metric failed, see its error);
2 unusable input (nothing written).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from .errors import CxrgenError, InputError
from .registry import REGISTRIES


def _log(msg: str) -> None:
    print(f"[cxrgen-bench] {msg}", file=sys.stderr, flush=True)


def _parse_weights(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items or ():
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--weights {item!r}: expected BACKBONE=PATH, e.g. xrv-densenet121=/weights/xrv.safetensors")
        out[name.strip()] = path.strip()
    return out


def cmd_ls(args: argparse.Namespace) -> int:
    kinds = [args.kind] if args.kind else list(REGISTRIES)
    listing: dict[str, Any] = {}
    for kind in kinds:
        if kind not in REGISTRIES:
            raise InputError(f"unknown kind {kind!r}; kinds: {', '.join(REGISTRIES)}")
        reg = REGISTRIES[kind]
        listing[kind] = {name: reg.source(name) for name in reg.names()}
    if args.json:
        print(json.dumps(listing, indent=2, sort_keys=True))
        return 0
    for kind, names in listing.items():
        print(f"{kind}:")
        for name, source in names.items():
            extra = ""
            if kind == "metrics":
                card = REGISTRIES[kind].get(name).card()
                extra = f"  ({card['direction']} is better) {card['summary']}"
            print(f"  {name}{'' if source == 'built-in' else f' [{source}]'}{extra}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from .runner import score

    result = score(images=args.images, reference=args.reference, prompts=args.prompts, metrics=args.metrics,
                   profile=args.profile, weights=_parse_weights(args.weights), out=args.out,
                   model_name=args.name, cache_dir=args.cache_dir, use_cache=not args.no_cache,
                   device=args.device, batch_size=args.batch_size, workers=args.workers,
                   allow_pickle=args.allow_pickle, strict=args.strict, log=None if args.quiet else _log)
    if args.json:
        from .results.store import dumps
        sys.stdout.write(dumps(result))
    else:
        print(format_summary(result))
        if args.out:
            print(f"results written to {args.out}")
    return 1 if result["status"] == "partial" else 0


def format_summary(result: dict[str, Any]) -> str:
    lines = [f"{result['model']['name']}  (profile {result['profile']['name']} v{result['profile']['version']}, "
             f"status {result['status']})"]
    for key, entry in sorted(result["metrics"].items()):
        arrow = "↓" if entry["direction"] == "lower" else "↑"
        if entry.get("error"):
            lines.append(f"  {key:32s} {arrow}  ERROR: {entry['error'].splitlines()[0]}")
            continue
        value = "undefined" if entry["value"] is None else f"{entry['value']:.4f}"
        std = f" ± {entry['std']:.4f}" if entry.get("std") is not None else ""
        lines.append(f"  {key:32s} {arrow}  {value}{std}   (n={entry['n']['effective']})")
        for warning in entry.get("warnings", []):
            lines.append(f"      note: {warning}")
    return "\n".join(lines)


def cmd_weights(args: argparse.Namespace) -> int:
    from .backbones import build_backbone
    from .profiles import get_profile
    from .weights import WeightsSpec, describe_spec, resolve_weights, save_safetensors

    profile = get_profile(args.profile)
    if args.action == "where":
        names = [args.backbone] if args.backbone else list(profile.backbones)
        status = 0
        for name in names:
            spec = WeightsSpec.from_profile(name, profile.backbone(name))
            try:
                found = resolve_weights(spec, None)
                print(f"{name}: {found.path} (sha256 {found.sha256}, from {found.source}"
                      f"{', matches ' + found.known.filename if found.known else ''})")
            except CxrgenError as exc:
                status = 2
                print(f"{name}: {exc}\n")
            if args.json:
                print(json.dumps(describe_spec(spec), indent=2))
        return status
    # convert: load through the real, checked path once, write safetensors that never need unpickling
    if not args.backbone or not args.source:
        raise InputError("usage: cxrgen-bench weights convert BACKBONE SOURCE [--out DEST] [--allow-pickle]")
    cfg = profile.backbone(args.backbone)
    net = build_backbone(args.backbone, cfg, weights=args.source, allow_pickle=args.allow_pickle)
    spec = WeightsSpec.from_profile(args.backbone, cfg)
    env_dir = os.environ.get("CXRGEN_WEIGHTS")
    dest = Path(args.out) if args.out else (Path(env_dir) if env_dir else Path(args.source).parent) / spec.filename
    save_safetensors(net.model.state_dict(), dest, {"backbone": args.backbone, "converted_from_sha256": net.weights_sha256,
                                                    "converted_from": Path(args.source).name})
    print(f"wrote {dest}; use it with --weights {args.backbone}={dest}" + ("" if env_dir else
          " or put it in $CXRGEN_WEIGHTS"))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run

    result = run(args.out, log=print)
    return 0 if all(r["status"] == "complete" for r in result.values()) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cxrgen-bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ls", help="list registered metrics, backbones, generators, datasets, profiles")
    p.add_argument("kind", nargs="?", help="one of: " + ", ".join(REGISTRIES))
    p.add_argument("--json", action="store_true", help="print the listing as JSON")
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("score", help="score a folder of generated images")
    p.add_argument("--images", required=True, help="folder of generated images (manifest.csv inside, or {id}_{k}.png names)")
    p.add_argument("--reference", help="folder of real images (needed by fid and the filtered classifier AUROC)")
    p.add_argument("--prompts", help="prompts CSV: prompt_id, text and CheXpert label columns")
    p.add_argument("--metrics", default="fid,ms_ssim,classifier_auroc",
                   help="comma-separated metrics; restrict FID backbones with fid[inception-v3-fid+xrv-densenet121]")
    p.add_argument("--profile", default="roentgen2022", help="profile name or YAML file (default: roentgen2022)")
    p.add_argument("--weights", action="append", default=[], metavar="BACKBONE=PATH",
                   help="weights file for a backbone (repeatable); otherwise $CXRGEN_WEIGHTS and library caches")
    p.add_argument("--allow-pickle", action="store_true",
                   help="allow weights files that need unpickling/TorchScript even if their sha256 is not the published one")
    p.add_argument("--out", help="write the results JSON here (atomically, after validation)")
    p.add_argument("--json", action="store_true", help="print the results object as JSON")
    p.add_argument("--name", help="model name for the results file (default: the image folder's name)")
    p.add_argument("--cache-dir", help="feature/statistics cache (default: $CXRGEN_CACHE or ~/.cache/cxrgen-bench)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--device", default="cpu", help="torch device for the backbones (cpu, cuda, cuda:1, ...)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    p.add_argument("--workers", type=int, default=None, help="threads decoding/resizing images")
    p.add_argument("--strict", action="store_true", help="stop at the first failing metric (write nothing)")
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("demo", help="score stand-in generators on real radiographs, offline (the README's main job)")
    p.add_argument("--out", default="cxrgen-demo", help="folder for images, results and the summary")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("weights", help="where weights are looked for; convert official files to safetensors")
    p.add_argument("action", choices=("where", "convert"))
    p.add_argument("backbone", nargs="?")
    p.add_argument("source", nargs="?", help="(convert) the official weights file")
    p.add_argument("--out", help="(convert) destination .safetensors")
    p.add_argument("--allow-pickle", action="store_true", help="(convert) trust a pickle/TorchScript source file")
    p.add_argument("--profile", default="roentgen2022")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_weights)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CxrgenError as exc:
        print(f"cxrgen-bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cxrgen-bench: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
