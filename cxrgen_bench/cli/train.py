"""`cxrgen-bench train METHOD`: the registered trainers (the reference RoentGen trainer and the seeds'
baselines), each with its own flags."""
from __future__ import annotations

import argparse

from ..registry import TRAINERS

HELP = "the reference RoentGen trainer and its baselines (accelerate launch for many GPUs)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    methods = p.add_subparsers(dest="method", required=True, metavar="METHOD")
    for name in TRAINERS.names():
        trainer = TRAINERS.get(name)()
        m = methods.add_parser(name, help=trainer.help, description=trainer.help)
        trainer.add_arguments(m)
        m.set_defaults(trainer=trainer)


def run(args: argparse.Namespace) -> int:
    print(args.trainer.run(args))
    return 0
