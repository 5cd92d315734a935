"""`cxrgen-bench ls [KIND]`: what is registered, with each metric's card summary."""
from __future__ import annotations

import argparse
import json

from ..registry import REGISTRIES, listing

HELP = "list what is registered: metrics (with their cards), models, generators, datasets, profiles, ..."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", nargs="?", choices=list(REGISTRIES), metavar="KIND",
                   help="one of: " + ", ".join(REGISTRIES))
    p.add_argument("--json", action="store_true", help="print the listing as JSON")


def run(args: argparse.Namespace) -> int:
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
