"""The `cxrgen-bench` command. Thin: one module per command, each parsing flags into the arguments
of the Python call it makes; `--json` prints exactly the object that call returns.

Exit codes: 0 success; 1 a result was written but is partial (a metric failed, see its error), or was
written elsewhere than --out because writing there failed (the message says where), or a gate found a
regression; 2 unusable input (nothing written).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from contextlib import contextmanager
from typing import Iterator, Sequence

from ..errors import CxrgenError, ResultsNotWritten

# In the order `cxrgen-bench` lists them.
COMMANDS = ("demo", "score", "score-reports", "generate", "compare", "gate", "leaderboard", "data", "train", "study",
            "sweep", "reader-study", "meta", "weights", "ls")
# Commands that compute: they choose their thread count first (cxrgen_bench/threads.py).
COMPUTING = ("demo", "score", "score-reports", "generate", "train", "study", "sweep", "meta")
DESCRIPTION = "Score text-to-image chest X-ray generators with the RoentGen evaluation framework."


def _module(name: str):
    return importlib.import_module(f"{__name__}.{name.replace('-', '_')}")


def build_parser() -> argparse.ArgumentParser:
    from ..flags import positive_int

    parser = argparse.ArgumentParser(prog="cxrgen-bench", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = _module(name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP.replace("%%", "%"))
        module.add_arguments(p)
        if name in COMPUTING:
            p.add_argument("--threads", type=positive_int, default=None,
                           help="torch/BLAS threads (default: the cores not busy with other processes; "
                                "env CXRGEN_THREADS)")
            p.add_argument("--offline", action="store_true",
                           help="never use the network: weights are only looked for, never downloaded (the same as "
                                "CXRGEN_OFFLINE=1, HF_HUB_OFFLINE=1 or TRANSFORMERS_OFFLINE=1; recorded in results)")
        if hasattr(module, "run"):  # commands with actions (data, leaderboard, weights) set func per action
            p.set_defaults(func=module.run)
    return parser


def command_list() -> str:
    lines = [f"usage: cxrgen-bench COMMAND [options]   ({DESCRIPTION})", "", "commands:"]
    width = max(map(len, COMMANDS))
    for name in COMMANDS:
        lines.append(f"  {name:{width}s}  {_module(name).HELP.replace('%%', '%')}")
    lines += ["", "cxrgen-bench COMMAND --help shows a command's options."]
    return "\n".join(lines)


@contextmanager
def offline(asked: bool) -> Iterator[None]:
    """--offline: the variables every library we load reads (ours, huggingface_hub, transformers), set
    for the command and restored after it (main() also runs inside tests and notebooks)."""
    from ..models.weights import OFFLINE_VARIABLES

    from ..environment import environ

    with environ({v: "1" for v in OFFLINE_VARIABLES} if asked else {}, restore=OFFLINE_VARIABLES):
        yield


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(command_list())
        return 0
    try:
        # Building the parser loads trainer and study plug-ins (their flags): a broken one is named, not a traceback.
        args = build_parser().parse_args(argv)
        if args.command in COMPUTING:
            from .. import threads

            threads.choose(args.threads)
        with offline(getattr(args, "offline", False)):
            return args.func(args)
    except CxrgenError as exc:
        print(f"cxrgen-bench: error: {exc}", file=sys.stderr)
        if isinstance(exc, ResultsNotWritten) and exc.fallback is None:
            sys.stdout.write(exc.text)  # the last place left for the computed results
        return exc.exit_code
    except OSError as exc:  # a folder or disk the checks could not foresee: named, not a traceback
        print(f"cxrgen-bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cxrgen-bench: interrupted; nothing was written", file=sys.stderr)
        return 130


__all__ = ["COMMANDS", "build_parser", "main"]
