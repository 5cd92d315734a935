"""`cxrgen-bench train METHOD`: the registered trainers (the reference RoentGen trainer and the seeds'
baselines), each with its own flags."""
from __future__ import annotations

import argparse

from ..errors import RegistryError
from ..registry import TRAINERS

HELP = "the reference RoentGen trainer and its baselines (accelerate launch for many GPUs)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    methods = p.add_subparsers(dest="method", required=True, metavar="METHOD")
    for name in TRAINERS.names():
        try:
            trainer = TRAINERS.get(name)()
        except RegistryError as exc:  # a broken plug-in: listed, and running it says why
            broken = methods.add_parser(name, help=f"BROKEN: {exc}", prefix_chars="\x00")  # takes any flags
            broken.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            broken.set_defaults(broken=exc)
            continue
        m = methods.add_parser(name, help=trainer.help, description=trainer.help)
        trainer.add_arguments(m)
        m.set_defaults(trainer=trainer)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "broken", None):
        raise args.broken
    print(args.trainer.run(args))
    return 0
