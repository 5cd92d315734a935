"""`cxrgen-bench reader-study create|serve|status|analyse|export`: the radiologists' reader study of
RoentGen §6.5 (docs/reader-study.md). Flags only; the work is in `cxrgen_bench.reader`."""
from __future__ import annotations

import argparse
import json
import sys

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
                   help="the file to write: one generator's results object (results schema), or for several one "
                        "document holding each generator's results object and each reader's progress")
    a.add_argument("--per-generator", action="store_true",
                   help="with several generators, also write OUT.GENERATOR.json beside --out for each: the results "
                        "files `compare` and `leaderboard add` read")
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
    from ..reader.analysis import analyse, summary
    from ..results.store import dumps

    results = analyse(args.study, out=args.out, bootstrap=args.bootstrap, bootstrap_seed=args.bootstrap_seed,
                      profile=args.profile, name=args.name, log=None if args.json else print,
                      per_generator=args.per_generator)
    if args.json:
        print(json.dumps({g: json.loads(dumps(r)) for g, r in results.items()}, indent=2))
    else:
        print(summary(results))
        print(_next_steps(args.out, list(results), args.per_generator))
    partial = {gen: [k for k, e in r["metrics"].items() if "error" in e or "undefined" in e]
               for gen, r in results.items() if r["status"] == "partial"}
    message = _incomplete(args.study, partial)
    if message:  # on stderr, with --json too: why the exit is 1, and what is left to do
        print(f"cxrgen-bench: {message}", file=sys.stderr)
    return 1 if partial else 0


def _incomplete(study: str, partial: dict[str, list[str]]) -> str | None:
    """Each reader's progress when some are not done, and the keys without a value when results are partial."""
    from ..reader.analysis import describe_progress, reader_progress

    left = describe_progress(reader_progress(study))
    parts = [left] if left else []
    if partial:
        keys = "; ".join(f"{gen}: {', '.join(k[:4])}{f' and {len(k) - 4} more' if len(k) > 4 else ''}"
                         for gen, k in partial.items())
        parts.append(f"the results are partial (exit 1): no value for {keys} (each entry says why)")
    elif left:
        parts.append("each reader's missing items are counted in the results (n.effective, a warning)")
    if left:
        parts.append(f"`cxrgen-bench reader-study status {study}` shows who is left")
    return "; ".join(parts) or None


def _next_steps(out: str, generators: list[str], per_generator: bool) -> str:
    """Where the results go next: `compare` and `leaderboard add` read one generator's results file."""
    from ..reader.analysis import output_paths

    if len(generators) == 1:
        return f"on the board: cxrgen-bench leaderboard add {out}"
    paths = list(output_paths(out, generators).values())
    if not per_generator:
        return (f"{out} holds the results of {len(generators)} generators; for `compare` and `leaderboard add`, "
                f"which read one generator's results file, add --per-generator (writes {paths[0].name} and the "
                "others beside it)")
    return (f"paired comparisons: cxrgen-bench compare {paths[0]} {paths[1]}\n"
            f"on the board: cxrgen-bench leaderboard add {paths[0]}")


def run_export(args: argparse.Namespace) -> int:
    from ..reader.export import export_answers

    text = export_answers(args.study, args.out, with_key=not args.without_key)
    print(f"wrote {args.out} ({max(text.count(chr(10)) - 1, 0)} answers)")
    return 0
