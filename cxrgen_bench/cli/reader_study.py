"""`cxrgen-bench reader-study create|serve|status|analyse|export`: the radiologists' reader study of
RoentGen §6.5 (docs/reader-study.md). Flags only; the work is in `cxrgen_bench.reader`."""
from __future__ import annotations

import argparse
import json

from ..flags import positive_int

HELP = "a radiologists' reader study (RoentGen §6.5): create it, serve it to the readers, follow it, analyse it"
DEFAULT_URL = "http://127.0.0.1:8765"


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", metavar="ACTION")

    c = actions.add_parser("create", help="draw the items, re-encode the images, write a new study folder")
    c.add_argument("--generated", action="append", required=True, metavar="[NAME=]FOLDER",
                   help="generated images ({prompt_id}_{k} files or a manifest); repeat for several generators "
                        "(NAME defaults to the generator in the folder's generation.json, else the folder's name)")
    c.add_argument("--real", help="the real images of the prompts (needed for realism pairs)")
    c.add_argument("--prompts", required=True, help="prompts CSV (prompt_id, text, CheXpert label columns)")
    c.add_argument("--realism-pairs", type=_count, default=104,
                   help="blinded real/synthetic pairs per generator (paper: 104)")
    c.add_argument("--alignment-items", type=_count, default=107,
                   help="synthetic image + prompt items per generator (paper: 107)")
    c.add_argument("--balance-by", choices=("labels", "none"), default="labels",
                   help="draw balanced over the prompts' findings (labels: the rarest positive CheXpert label of each "
                        "prompt) or at random (none)")
    c.add_argument("--readers", default="r1,r2", help="comma-separated reader names (default r1,r2)")
    c.add_argument("--seed", type=int, default=0, help="seed of every draw (items, orders, left/right)")
    c.add_argument("--size", type=positive_int, default=512, help="side of the square images shown, in pixels")
    c.add_argument("--compress", action="store_true",
                   help="compress the PNGs (smaller, but their sizes then differ between real and synthetic images)")
    c.add_argument("--base-url", default=DEFAULT_URL,
                   help="where the study will be served, for the links in readers.csv (serve prints the actual ones)")
    c.add_argument("--out", required=True, help="the new study folder (never overwritten)")
    c.add_argument("--json", action="store_true", help="print the study's summary as JSON")
    c.set_defaults(func=run_create)

    s = actions.add_parser("serve", help="serve the study to its readers (prints each reader's link)")
    s.add_argument("study", help="the study folder")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; anything else is reachable "
                        "from the network and prints a warning)")
    s.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    s.set_defaults(func=run_serve)

    t = actions.add_parser("status", help="who has answered how much")
    t.add_argument("study", help="the study folder")
    t.add_argument("--json", action="store_true", help="print the status as JSON")
    t.set_defaults(func=run_status)

    a = actions.add_parser("analyse", help="means ± std with bootstrap CIs, lean-real share, κ and α → results schema")
    a.add_argument("study", help="the study folder")
    a.add_argument("--out", required=True,
                   help="results file (one generator), or OUT.GENERATOR.json beside it for each of several")
    a.add_argument("--bootstrap", type=_count, default=1000, help="bootstrap resamples over units (0: no CIs)")
    a.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the resamples (the same for every generator)")
    a.add_argument("--profile", default="roentgen2022",
                   help="profile named in the results (the board groups results by profile)")
    a.add_argument("--name", help="model name in the results (one generator only; default: the generator's name)")
    a.add_argument("--json", action="store_true", help="print the results objects as JSON")
    a.set_defaults(func=run_analyse)

    e = actions.add_parser("export", help="every answer as CSV, with the answer key")
    e.add_argument("study", help="the study folder")
    e.add_argument("--out", required=True, help="CSV file to write")
    e.add_argument("--without-key", action="store_true",
                   help="leave out the key (generator, which side was real, original files), as the admin page does")
    e.set_defaults(func=run_export)
    p.set_defaults(func=run_help, parser=p)


def run_help(args: argparse.Namespace) -> int:
    args.parser.print_help()
    return 2


def run_create(args: argparse.Namespace) -> int:
    from ..reader.create import create_study, parse_generated

    summary = create_study(args.out, parse_generated(args.generated), args.prompts, real=args.real,
                           realism_pairs=args.realism_pairs, alignment_items=args.alignment_items,
                           readers=[r.strip() for r in args.readers.split(",") if r.strip()],
                           balance_by=args.balance_by, seed=args.seed, size=args.size, compress=args.compress,
                           base_url=args.base_url, log=None if args.json else print)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    print(f"study {summary['folder']}: {summary['items']['realism']} realism pair(s) and "
          f"{summary['items']['alignment']} alignment item(s) per reader")
    print(f"readers' links: {summary['readers_csv']} (keep it private); serve with: cxrgen-bench reader-study serve "
          f"{summary['folder']}")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from ..reader.serve import serve

    serve(args.study, host=args.host, port=args.port)
    return 0


def run_status(args: argparse.Namespace) -> int:
    from ..reader.status import format_status, status

    s = status(args.study)
    print(json.dumps(s, indent=2) if args.json else format_status(s))
    return 0


def run_analyse(args: argparse.Namespace) -> int:
    from ..reader.analysis import analyse, output_paths, summary
    from ..results.store import dumps

    results = analyse(args.study, out=args.out, bootstrap=args.bootstrap, bootstrap_seed=args.bootstrap_seed,
                      profile=args.profile, name=args.name, log=None if args.json else print)
    if args.json:
        print(json.dumps({g: json.loads(dumps(r)) for g, r in results.items()}, indent=2))
    else:
        print(summary(results))
        paths = list(output_paths(args.out, list(results)).values())
        if len(paths) > 1:
            print(f"paired comparisons: cxrgen-bench compare {paths[0]} {paths[1]}")
        print(f"on the board: cxrgen-bench leaderboard add {paths[0]}")
    return 1 if any(r["status"] == "partial" for r in results.values()) else 0


def run_export(args: argparse.Namespace) -> int:
    from ..reader.export import export_answers

    text = export_answers(args.study, args.out, with_key=not args.without_key)
    print(f"wrote {args.out} ({max(text.count(chr(10)) - 1, 0)} answers)")
    return 0
