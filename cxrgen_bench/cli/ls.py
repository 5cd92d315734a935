"""`cxrgen-bench ls [KIND [NAME]]`: what is registered, with each metric's card summary; with a name, one
entry in full (a profile's every setting, which `--set KEY=VALUE` can change for a run; a metric's card
and the settings it reads)."""
from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import InputError
from ..registry import REGISTRIES, listing

HELP = "list what is registered: metrics (with their cards), models, generators, datasets, profiles, ..."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", nargs="?", choices=list(REGISTRIES), metavar="KIND",
                   help="one of: " + ", ".join(REGISTRIES))
    p.add_argument("name", nargs="?", help="one entry of KIND in full: a profile's settings (what --set changes), "
                                           "a metric's card and settings")
    p.add_argument("--json", action="store_true", help="print the listing as JSON")


def run(args: argparse.Namespace) -> int:
    if args.name:
        return show_one(args)
    kinds = [args.kind] if args.kind else list(REGISTRIES)
    found = {kind: listing(kind) for kind in kinds}
    if args.json:
        print(json.dumps(found, indent=2, sort_keys=True))
        return 0
    for kind, entries in found.items():
        print(f"{kind}:")
        for name, info in entries.items():
            source = "" if info["source"] == "built-in" else f" [{info['source']}]"
            card = info.get("card")
            extra = f"  BROKEN: {info['error']}" if info.get("error") else ""
            if card:
                extra = f"  ({card['direction']} is better) {card['summary']}" + (
                    " [reported only]" if card["reported_only"] else "")
            print(f"  {name}{source}{extra}")
    return 0


def describe_one(kind: str, name: str) -> dict[str, Any]:
    reg = REGISTRIES[kind]
    if name not in reg:
        raise InputError(f"no {kind} named {name!r}; registered: {', '.join(reg.names())}")
    out: dict[str, Any] = {"kind": kind, "name": name, "source": reg.source(name)}
    if kind == "profiles":
        from ..profiles import get_profile

        profile = get_profile(name)
        out.update({"version": profile.version, "description": profile.description, "settings": profile.settings()})
    elif kind == "metrics":
        metric = reg.get(name)
        out.update({"card": metric.card.describe(), "profile_block": metric.block_name(),
                    "settings": metric.Settings.describe()})
    return out


def show_one(args: argparse.Namespace) -> int:
    if not args.kind:
        raise InputError("name a kind before the name, e.g. cxrgen-bench ls profiles roentgen2022")
    info = describe_one(args.kind, args.name)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True, default=str))
        return 0
    print(f"{args.kind[:-1] if args.kind.endswith('s') else args.kind} {args.name} ({info['source']})")
    if args.kind == "profiles":
        print(f"version {info['version']}: {info['description']}")
        print("settings (change one for a run with --set KEY=VALUE; metrics.NAME. may be left out):")
        for key, value in info["settings"].items():
            print(f"  {key}={json.dumps(value)}")
    elif args.kind == "metrics":
        for key, value in info["card"].items():
            print(f"  {key}: {value}")
        if info["settings"]:
            block = info["profile_block"]
            print(f"settings it reads from its profile block metrics.{block} (--set {block}.KEY=VALUE):")
            width = max(len(s["name"]) for s in info["settings"])
            for s in info["settings"]:
                allowed = f"; {s['allowed']}" if s["allowed"] else ""
                print(f"  {s['name']:<{width}}  {s['type']} = {json.dumps(s['default'])}{allowed}  {s['doc']}")
        else:
            print("settings: none (its profile block, if any, must be empty)")
    return 0
