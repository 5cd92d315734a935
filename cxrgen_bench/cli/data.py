"""`cxrgen-bench data prompts|stats|label`: prompt sets from datasets, RoentGen Table 1, labelling."""
from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import InputError
from ..flags import non_negative_int, positive_int
from ..registry import DATASETS

HELP = "prompt sets from datasets (MIMIC-CXR, OpenI, PadChest), Table 1, labelling"


def add_arguments(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text in (("prompts", "write a prompts CSV (and its description) from a dataset"),
                            ("stats", "RoentGen Table 1 (per-label counts, text lengths) from a dataset's files")):
        a = actions.add_parser(name, help=help_text, description=help_text)
        _dataset_flags(a, out=name == "prompts")
        a.set_defaults(func=run_prompts if name == "prompts" else run_stats)
    a = actions.add_parser("label", help="CheXpert-14 labels of free text (the rule-based labeller)")
    a.add_argument("text", nargs="+", help="the free text to label")
    a.add_argument("--json", action="store_true", help="print the labels as JSON")
    a.set_defaults(func=run_label)


def _dataset_flags(p: argparse.ArgumentParser, out: bool) -> None:
    p.add_argument("--dataset", required=True, choices=DATASETS.names(), help="a registered dataset")
    p.add_argument("--root", help="the dataset's folder (OpenI and PadChest labels work without it)")
    p.add_argument("--reports-root", help="(mimic-cxr) folder holding files/pXX/.../sNNN.txt if not under --root")
    p.add_argument("--split", default="p19", help="(mimic-cxr) train, p19, test, validate, pNN or pNN-pMM")
    p.add_argument("--views", default=None,
                   help="comma-separated views (PA, AP, LATERAL, LL) or ALL; default: PA for mimic-cxr, ALL otherwise")
    p.add_argument("--section", default="impression", help="impression, findings or impression-or-fallback")
    p.add_argument("--min-chars", type=non_negative_int, default=None,
                   help="drop texts shorter than this (default: mimic-cxr 7, the paper's; none for openi, padchest)")
    p.add_argument("--max-tokens", type=non_negative_int, default=None,
                   help="drop texts over this many CLIP tokens; 0 keeps all (default: mimic-cxr 77; none for openi, "
                        "padchest)")
    p.add_argument("--no-finding-cap", type=non_negative_int, default=None,
                   help="keep at most this many No Finding prompts (a seeded choice)")
    p.add_argument("--limit", type=positive_int, default=None, help="seeded sample of this many prompts (paper p19: 5000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the No Finding cap and --limit samples")
    p.add_argument("--no-image-check", action="store_true", help="do not check that image files exist")
    p.add_argument("--demographics", help="(mimic-cxr) the MIMIC-IV folder: sex, age at the study and race joined from "
                                          "hosp/patients.csv and hosp/admissions.csv by subject_id, in columns of their own")
    p.add_argument("--demographic-prompts", action="store_true",
                   help="(mimic-cxr, with --demographics) write prompts as RoentGen-v2 does: \"{age} year old {race} "
                        "{sex}. {impression}\"")
    if out:
        p.add_argument("--out", help="CSV to write; its description goes beside it to the same name + .json "
                                      "(--out p19.csv: p19.csv.json)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--strict", dest="strict", action="store_true", help="stop at the first malformed row")
    group.add_argument("--lenient", dest="strict", action="store_false",
                       help="skip malformed rows and count them in the description (default)")
    p.set_defaults(strict=False)
    p.add_argument("--json", action="store_true", help="print the prompts' description (or the table) as JSON")


def _dataset(args: argparse.Namespace) -> Any:
    kwargs = {"reports_root": args.reports_root} if args.reports_root else {}
    return DATASETS.get(args.dataset)(args.root, strict=args.strict, **kwargs)


def _prompt_options(args: argparse.Namespace) -> dict[str, Any]:
    views = None if not args.views or args.views.upper() == "ALL" else tuple(v.strip().upper() for v in args.views.split(","))
    opts = {"split": args.split, "views": views, "section": args.section, "min_chars": args.min_chars,
            "max_tokens": None if args.max_tokens == 0 else args.max_tokens, "no_finding_cap": args.no_finding_cap,
            "limit": args.limit, "seed": args.seed, "check_images": not args.no_image_check}
    if args.demographics or args.demographic_prompts:
        if args.dataset != "mimic-cxr":
            raise InputError(f"--demographics and --demographic-prompts join MIMIC-IV to mimic-cxr; {args.dataset} "
                             "carries its own columns (padchest: sex and age) or none (openi)")
        opts.update(demographics=args.demographics, demographic_prompts=args.demographic_prompts)
    # an option not given is each dataset's own default (MIMIC-CXR: PA views, 7 characters, 77 CLIP tokens)
    for name, given in (("views", args.views), ("min_chars", args.min_chars), ("max_tokens", args.max_tokens)):
        if given is None:
            opts.pop(name)
    return opts


def run_prompts(args: argparse.Namespace) -> int:
    from .common import check_out

    check_out(args.out)  # an --out that cannot be written is named before the dataset is read
    table = _dataset(args).prompts(**_prompt_options(args))
    if not table.rows:  # an empty prompts file would only fail later, far from the filter that emptied it
        skipped = "; ".join(f"{reason}: {v['count']}" for reason, v in table.description["skipped"].items())
        raise InputError(f"{args.dataset}: no prompt is left after the filters ({skipped or 'no report read'}); "
                         "check --views, --split, --section and the text filters. Nothing was written")
    if args.out:
        table.write(args.out)
    summary = {k: v for k, v in table.description.items() if k != "skipped"}
    summary["skipped"] = {reason: v["count"] for reason, v in table.description["skipped"].items()}
    print(json.dumps(summary, indent=2, sort_keys=True))
    if args.out:
        print(f"wrote {len(table.rows)} prompts to {args.out} (description: {args.out}.json)")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from ..data.stats import format_table1, table1

    columns = table1(_dataset(args), _prompt_options(args))
    print(json.dumps(columns, indent=2) if args.json else format_table1(columns))
    return 0


def run_label(args: argparse.Namespace) -> int:
    from ..data.labeller import label_report

    if not " ".join(args.text).strip():
        raise InputError("data label: the text is empty; give the report text to label, e.g. "
                         "cxrgen-bench data label \"Small left pleural effusion.\"")
    labels = label_report(" ".join(args.text))
    shown = {k: None if v is None else int(v) for k, v in labels.items()}
    print(json.dumps(shown, indent=2) if args.json else
          "\n".join(f"{k:28s} {'' if v is None else v}" for k, v in shown.items()))
    return 0
