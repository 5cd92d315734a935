"""`cxrgen-bench leaderboard add|build|import-reported`: the validated store and its boards."""
from __future__ import annotations

import argparse

HELP = "store results and rebuild the boards (Markdown, HTML, CSV, LaTeX, plots)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("add", help="validate results files into the store's entries/")
    a.add_argument("files", nargs="+", help="results JSON files")
    a.add_argument("--name", help="entry name (default: from profile and model name)")
    a.add_argument("--replace", action="store_true", help="overwrite an entry of the same name")
    a.set_defaults(func=run_add)
    a = actions.add_parser("build", help="rebuild the boards from the stored entries")
    a.add_argument("--out", help="where to write the boards (default: --root)")
    a.add_argument("--significance", choices=("bootstrap", "ar"),
                   help="mark with * each value that differs from its column's best at p < --alpha: the paired "
                        "bootstrap (bootstrap) or approximate randomization on per-item values (ar)")
    a.add_argument("--alpha", type=float, default=0.05, help="the level of --significance (default 0.05)")
    a.set_defaults(func=run_build)
    a = actions.add_parser("import-reported", help="turn typed-in paper numbers (YAML) into reported entries")
    a.add_argument("files", nargs="*", help="YAML files (default: ROOT/reported/*.yaml)")
    a.set_defaults(func=run_import)
    for a in actions.choices.values():
        a.add_argument("--root", default="leaderboard", help="leaderboard folder (entries/ inside)")


def run_add(args: argparse.Namespace) -> int:
    from ..leaderboard.store import Store

    store = Store(args.root)
    for file in args.files:
        print(f"added {store.add(file, name=args.name, replace=args.replace)}")
    return 0


def run_build(args: argparse.Namespace) -> int:
    from ..leaderboard.render import build
    from ..leaderboard.store import Store

    store = Store(args.root)
    if not 0 < args.alpha < 1:
        from ..errors import InputError

        raise InputError(f"--alpha {args.alpha}: a level between 0 and 1, e.g. 0.05")
    for path in build(store.load(), args.out or store.root, meta=store.load_meta(), significance=args.significance,
                      alpha=args.alpha).values():
        print(f"wrote {path}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from ..leaderboard.reported import load_reported
    from ..leaderboard.store import Store

    store = Store(args.root)
    for file in args.files or sorted(str(p) for p in (store.root / "reported").glob("*.yaml")):
        entries = load_reported(file)
        for entry in entries:
            store.add(entry, replace=True)
        print(f"{file}: {len(entries)} reported entries")
    return 0
