"""`cxrgen-bench study NAME`: a registered study (a resumable, training-based evaluation) into a
folder; re-running the same command resumes it. Writes OUT/results.json like `score --out`."""
from __future__ import annotations

import argparse
import json

from ..errors import RegistryError
from ..registry import STUDIES
from .common import add_set_flag, profile_of
from ..results.entry import ResultView

HELP = "run (or resume) a registered training-based study (resumable; writes the results schema)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    studies = p.add_subparsers(dest="study", metavar="STUDY")
    for name in STUDIES.names():
        try:
            cls = STUDIES.get(name)
        except RegistryError as exc:  # a broken plug-in: listed, and running it says why
            broken = studies.add_parser(name, help=f"BROKEN: {exc}", prefix_chars="\x00")  # takes any flags
            broken.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            broken.set_defaults(broken=exc)
            continue
        s = studies.add_parser(name, help=cls.help, description=cls.help)
        cls.add_arguments(s)
        s.add_argument("--out", required=True, help="the study's folder (resumable: re-run the same command)")
        s.add_argument("--profile", default="roentgen2022", help="profile pinning the study's settings")
        add_set_flag(s)
        s.add_argument("--name", help="model name for the results (default: the study's name)")
        s.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...; under torchrun / accelerate "
                                                          "launch, cuda means cuda:LOCAL_RANK)")
        s.add_argument("--json", action="store_true", help="print the results object as JSON")
        s.add_argument("--quiet", action="store_true", help="no progress display")
        s.set_defaults(study_class=cls)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "broken", None):
        raise args.broken
    if not getattr(args, "study_class", None):
        names = STUDIES.names()
        print("studies: " + (", ".join(names) if names else "none registered (plug-ins add them under the "
                             "entry-point group cxrgen_bench.studies)"))
        return 0 if names else 2
    from ..evaluation.context import RunOptions
    from ..results.store import dumps
    from ..studies import run_study
    from ..distributed import world
    from .common import check_out, log, process_device

    check_out(args.out, folder=True)
    here = world()
    device = process_device(args.device)  # torchrun / accelerate launch: one device per process
    cls = args.study_class
    options = RunOptions(device=device, progress=not (args.quiet or args.json),
                         log=(lambda m: None) if args.quiet else log)
    result = run_study(cls(cls.settings_from_args(args), profile_of(args), options), args.out, model_name=args.name)
    if result is None:
        print(f"{here}: its units are done; rank 0 writes {args.out}/results.json")
        return 0
    print(dumps(result) if args.json else json.dumps({k: e.value for k, e in ResultView.of(result).entries.items()}, indent=2))
    return 1 if result["status"] == "partial" else 0
