"""The `cxrgen-bench` command. Thin: every flag is an argument of the Python call it makes, and
`--json` prints exactly the object that call returns.

Exit codes: 0 success; 1 a result was written but is partial (a metric failed, see its error);
2 unusable input (nothing written).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from .errors import CxrgenError, InputError
from .metrics.card import find_card
from .registry import REGISTRIES, TRAINERS


def _log(msg: str) -> None:
    print(f"[cxrgen-bench] {msg}", file=sys.stderr, flush=True)


def _parse_weights(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items or ():
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--weights {item!r}: expected BACKBONE=PATH, e.g. xrv-densenet121=/weights/xrv.safetensors")
        out[name.strip()] = path.strip()
    return out


def cmd_ls(args: argparse.Namespace) -> int:
    kinds = [args.kind] if args.kind else list(REGISTRIES)
    listing: dict[str, Any] = {}
    for kind in kinds:
        if kind not in REGISTRIES:
            raise InputError(f"unknown kind {kind!r}; kinds: {', '.join(REGISTRIES)}")
        reg = REGISTRIES[kind]
        listing[kind] = {name: reg.source(name) for name in reg.names()}
    if args.json:
        print(json.dumps(listing, indent=2, sort_keys=True))
        return 0
    for kind, names in listing.items():
        print(f"{kind}:")
        for name, source in names.items():
            extra = ""
            if kind == "metrics":
                card = REGISTRIES[kind].get(name).card
                extra = f"  ({card.direction} is better) {card.summary}" + (" [reported only]" if card.reported_only else "")
            print(f"  {name}{'' if source == 'built-in' else f' [{source}]'}{extra}")
    return 0


GENERATION_FLAGS = ("samples_per_prompt", "batch_size", "steps", "guidance_scale", "resolution", "seed", "scheduler",
                    "precision", "device", "compile", "vae_batch_size", "allow_pickle")


def add_generation_flags(p: argparse.ArgumentParser, for_score: bool = False) -> None:
    g = p.add_argument_group("generation (defaults from the profile's generation block)")
    g.add_argument("--generator", required=not for_score,
                   help="registered generator: diffusers, folder, real, callable, or a plug-in"
                   + ("; with score: generate into --images first, then score" if for_score else ""))
    g.add_argument("--model", help="pipeline folder (diffusers), image folder (folder), dataset root (real), "
                                   "module:function (callable)")
    g.add_argument("--samples-per-prompt", type=int, help="images per prompt (roentgen2022: 4)")
    g.add_argument("--steps", type=int, help="denoising steps (roentgen2022: 75)")
    g.add_argument("--guidance-scale", type=float, help="classifier-free guidance (roentgen2022: 4)")
    g.add_argument("--resolution", type=int, help="image side in pixels (roentgen2022: 512)")
    g.add_argument("--seed", type=int, help="global seed; each image's seed derives from (seed, prompt id, sample)")
    g.add_argument("--scheduler", help="pndm (roentgen2022), ddim, dpm++2m, euler, euler-a, unipc, ddpm")
    g.add_argument("--precision", help="auto (fp16 on CUDA, fp32 on CPU), fp32, fp16, bf16")
    g.add_argument("--compile", action="store_true", default=None, help="torch.compile the denoiser (GPU)")
    g.add_argument("--vae-batch-size", type=int, help="decode latents in chunks of this size (memory)")
    if not for_score:
        g.add_argument("--device", help="auto (cuda:LOCAL_RANK if available), cpu, cuda, cuda:1, ...")
        g.add_argument("--batch-size", type=int, help="images per generator call")
        g.add_argument("--allow-pickle", action="store_true", default=None,
                       help="accept pickle (.bin/.ckpt) weights in the checkpoint folder")


def _generation_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in GENERATION_FLAGS if getattr(args, k, None) is not None}


def cmd_generate(args: argparse.Namespace) -> int:
    from .generation import generate

    summary = generate(generator=args.generator, model=args.model, prompts=args.prompts, out=args.out,
                       profile=args.profile, progress=not args.quiet, **_generation_settings(args))
    print(json.dumps(summary, indent=2, sort_keys=True) if args.json else
          f"generated {summary['generated']} image(s), {summary['resumed']} already done, "
          f"{summary['images_per_s']:.2f} images/s (rank {summary['rank']} of {summary['world']})"
          + (f"; manifest: {summary['manifest']}" if "manifest" in summary else ""))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from .evaluation.runner import score

    if args.generator:
        from .generation import generate

        if not args.prompts:
            raise InputError("score --generator needs --prompts")
        # --device, --batch-size and --allow-pickle serve both the generator and the scoring backbones
        summary = generate(generator=args.generator, model=args.model, prompts=args.prompts, out=args.images,
                           profile=args.profile, progress=not args.quiet, **_generation_settings(args))
        if summary["rank"] != 0:
            return 0  # rank 0 scores the merged set

    result = score(images=args.images, reference=args.reference, prompts=args.prompts, metrics=args.metrics,
                   profile=args.profile, weights=_parse_weights(args.weights), out=args.out,
                   model_name=args.name, cache_dir=args.cache_dir, use_cache=not args.no_cache,
                   device=args.device, batch_size=args.batch_size, workers=args.workers,
                   allow_pickle=args.allow_pickle, strict=args.strict, bootstrap=args.bootstrap,
                   bootstrap_seed=args.bootstrap_seed, log=None if args.quiet else _log,
                   progress=not (args.quiet or args.json))
    if args.json:
        from .results.store import dumps
        sys.stdout.write(dumps(result))
    else:
        print(format_summary(result))
        if args.out:
            print(f"results written to {args.out}")
    return 1 if result["status"] == "partial" else 0


def format_summary(result: dict[str, Any]) -> str:
    lines = [f"{result['model']['name']}  (profile {result['profile']['name']} v{result['profile']['version']}, "
             f"status {result['status']})"]
    for key, entry in sorted(result["metrics"].items()):
        card = find_card(key)
        arrow = {"lower": "↓", "higher": "↑"}.get(card.direction if card else "", "?")
        if entry.get("error"):
            lines.append(f"  {key:32s} {arrow}  ERROR: {entry['error'].splitlines()[0]}")
            continue
        value = "undefined" if entry["value"] is None else f"{entry['value']:.4f}"
        std = f" ± {entry['std']:.4f}" if entry.get("std") is not None else ""
        ci = f"  95% CI [{entry['ci95'][0]:.4f}, {entry['ci95'][1]:.4f}]" if entry.get("ci95") else ""
        lines.append(f"  {key:32s} {arrow}  {value}{std}{ci}   (n={entry['n']['effective']})")
        for warning in entry.get("warnings", []):
            lines.append(f"      note: {warning}")
    return "\n".join(lines)


def cmd_weights(args: argparse.Namespace) -> int:
    from .models.image import build_backbone
    from .models.weights import WeightsSpec, describe_spec, resolve_weights, save_safetensors
    from .profiles import get_profile

    profile = get_profile(args.profile)
    if args.action == "where":
        names = [args.backbone] if args.backbone else list(profile.backbones)
        status = 0
        for name in names:
            spec = WeightsSpec.from_profile(name, profile.backbone(name))
            try:
                found = resolve_weights(spec, None)
                print(f"{name}: {found.path} (sha256 {found.sha256}, from {found.source}"
                      f"{', matches ' + found.known.filename if found.known else ''})")
            except CxrgenError as exc:
                status = 2
                print(f"{name}: {exc}\n")
            if args.json:
                print(json.dumps(describe_spec(spec), indent=2))
        return status
    # convert: load through the real, checked path once, write safetensors that never need unpickling
    if not args.backbone or not args.source:
        raise InputError("usage: cxrgen-bench weights convert BACKBONE SOURCE [--out DEST] [--allow-pickle]")
    cfg = profile.backbone(args.backbone)
    net = build_backbone(args.backbone, cfg, weights=args.source, allow_pickle=args.allow_pickle)
    spec = WeightsSpec.from_profile(args.backbone, cfg)
    env_dir = os.environ.get("CXRGEN_WEIGHTS")
    dest = Path(args.out) if args.out else (Path(env_dir) if env_dir else Path(args.source).parent) / spec.filename
    save_safetensors(net.model.state_dict(), dest, {"backbone": args.backbone, "converted_from_sha256": net.weights_sha256,
                                                    "converted_from": Path(args.source).name})
    print(f"wrote {dest}; use it with --weights {args.backbone}={dest}" + ("" if env_dir else
          " or put it in $CXRGEN_WEIGHTS"))
    return 0


def _dataset(args: argparse.Namespace):
    from .registry import DATASETS

    cls = DATASETS.get(args.dataset)
    kwargs = {"reports_root": args.reports_root} if args.reports_root else {}
    return cls(args.root, strict=args.strict, **kwargs)


def _prompt_options(args: argparse.Namespace) -> dict[str, Any]:
    views = None if not args.views or args.views.upper() == "ALL" else tuple(v.strip().upper() for v in args.views.split(","))
    opts = {"split": args.split, "views": views, "section": args.section, "min_chars": args.min_chars,
            "max_tokens": args.max_tokens or None, "no_finding_cap": args.no_finding_cap, "limit": args.limit,
            "seed": args.seed, "check_images": not args.no_image_check}
    if args.views is None:
        opts.pop("views")  # each dataset's own default (MIMIC-CXR: PA, as the paper's p19 prompts)
    return opts


def cmd_data(args: argparse.Namespace) -> int:
    if args.action == "label":
        from .data.labeller import label_report

        if not args.text:
            raise InputError("data label needs a text, e.g. cxrgen-bench data label \"Small left effusion.\"")
        labels = label_report(" ".join(args.text))
        shown = {k: None if v is None else int(v) for k, v in labels.items()}
        print(json.dumps(shown, indent=2) if args.json else
              "\n".join(f"{k:28s} {'' if v is None else v}" for k, v in shown.items()))
        return 0
    if not args.dataset:
        raise InputError(f"data {args.action} needs --dataset (one of: {', '.join(REGISTRIES['datasets'].names())})")
    dataset = _dataset(args)
    if args.action == "prompts":
        table = dataset.prompts(**_prompt_options(args))
        if args.out:
            table.write(args.out)
        summary = {k: v for k, v in table.description.items() if k != "skipped"}
        summary["skipped"] = {reason: v["count"] for reason, v in table.description["skipped"].items()}
        print(json.dumps(summary, indent=2, sort_keys=True))
        if args.out:
            print(f"wrote {len(table.rows)} prompts to {args.out} (description: {args.out}.json)")
        return 0
    from .data.stats import format_table1, table1_column

    if args.dataset != "mimic-cxr":
        table = dataset.prompts(**_prompt_options(args))
        columns = {args.dataset: table1_column(table.rows)}
    else:  # the four columns of RoentGen Table 1
        opts = _prompt_options(args)
        plan = {"PA train": dict(split="train", views=("PA",)), "PA/AP/LAT train": dict(split="train", views=None),
                "MIMIC test": dict(split="test", views=None, max_tokens=None),
                "P19 test": dict(split="p19", views=("PA",), limit=args.limit or 5000)}
        columns = {}
        for name, override in plan.items():
            columns[name] = table1_column(dataset.prompts(**{**opts, **override}).rows)
    print(json.dumps(columns, indent=2) if args.json else format_table1(columns))
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from .leaderboard.store import Store

    store = Store(args.root)
    if args.action == "add":
        if not args.files:
            raise InputError("leaderboard add needs a results file")
        for file in args.files:
            print(f"added {store.add(file, name=args.name, replace=args.replace)}")
        return 0
    if args.action == "import-reported":
        from .leaderboard.reported import load_reported

        files = args.files or sorted(str(p) for p in (store.root / "reported").glob("*.yaml"))
        for file in files:
            entries = load_reported(file)
            for entry in entries:
                store.add(entry, replace=True)
            print(f"{file}: {len(entries)} reported entries")
        return 0
    from .leaderboard.render import build

    written = build(store.load(), args.out or store.root)
    for name, path in written.items():
        print(f"wrote {path}")
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    from .gate import UNUSABLE, format_report, load_rules, run_gate
    from .results.store import read_result

    try:
        baseline, candidate = read_result(args.baseline), read_result(args.candidate)
        rules = load_rules(args.rules)
    except CxrgenError as exc:
        print(f"cxrgen-bench gate: unusable input: {exc}", file=sys.stderr)
        return UNUSABLE
    report = run_gate(baseline, candidate, rules, force=args.force)
    print(json.dumps(report.as_dict(), indent=2) if args.json else format_report(report))
    return report.exit_code


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare
    from .results.store import read_result

    rows = compare(read_result(args.a), read_result(args.b))
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        return 0

    def f(v: float | None) -> str:
        return "—" if v is None else f"{v:.4g}"

    print(f"{'metric':30s} {'a':>10s} {'b':>10s} {'b − a':>10s} {'95% CI':>22s} {'p':>7s}")
    for r in rows:
        ci = f"[{f(r.ci95[0])}, {f(r.ci95[1])}]" if r.ci95 else "—"
        print(f"{r.key:30s} {f(r.a):>10s} {f(r.b):>10s} {f(r.difference):>10s} {ci:>22s} {f(r.p_value):>7s}"
              + (f"  ({r.note})" if r.note else ""))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    print(args.trainer.run(args))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run

    result = run(args.out, prompts=args.prompts, bootstrap=args.bootstrap, log=print, progress=not args.quiet)
    return 0 if all(r["status"] == "complete" for r in result["results"].values()) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cxrgen-bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ls", help="list registered metrics, backbones, generators, datasets, profiles")
    p.add_argument("kind", nargs="?", help="one of: " + ", ".join(REGISTRIES))
    p.add_argument("--json", action="store_true", help="print the listing as JSON")
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("generate", help="generate images for a prompt set (resumable; multi-GPU via torchrun/accelerate)")
    p.add_argument("--prompts", required=True, help="prompts CSV (prompt_id, text, labels; image_path for --generator real)")
    p.add_argument("--out", required=True, help="output folder: {prompt_id}_{k}.png, manifest.csv, generation.json")
    p.add_argument("--profile", default="roentgen2022", help="profile whose generation block gives the defaults")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    add_generation_flags(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("score", help="score a folder of generated images (or generate it first with --generator)")
    p.add_argument("--images", required=True, help="folder of generated images (manifest.csv inside, or {id}_{k}.png "
                                                   "names); with --generator, where to generate them")
    p.add_argument("--reference", help="folder of real images (needed by fid and the filtered classifier AUROC)")
    p.add_argument("--prompts", help="prompts CSV: prompt_id, text and CheXpert label columns")
    p.add_argument("--metrics", default="fid,ms_ssim,classifier_auroc",
                   help="comma-separated metrics; restrict FID backbones with fid[inception-v3-fid+xrv-densenet121]")
    p.add_argument("--profile", default="roentgen2022", help="profile name or YAML file (default: roentgen2022)")
    p.add_argument("--weights", action="append", default=[], metavar="BACKBONE=PATH",
                   help="weights file for a backbone (repeatable); otherwise $CXRGEN_WEIGHTS and library caches")
    p.add_argument("--allow-pickle", action="store_true",
                   help="allow weights files that need unpickling/TorchScript even if their sha256 is not the published one")
    p.add_argument("--out", help="write the results JSON here (atomically, after validation)")
    p.add_argument("--json", action="store_true", help="print the results object as JSON")
    p.add_argument("--name", help="model name for the results file (default: the image folder's name)")
    p.add_argument("--cache-dir", help="feature/statistics cache (default: $CXRGEN_CACHE or ~/.cache/cxrgen-bench)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--device", default="cpu", help="torch device for the backbones (cpu, cuda, cuda:1, ...)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    p.add_argument("--workers", type=int, default=None, help="threads decoding/resizing images")
    p.add_argument("--strict", action="store_true", help="stop at the first failing metric (write nothing)")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="prompt-level bootstrap resamples for 95%% CIs (e.g. 1000; 0: none)")
    p.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the bootstrap (same seed → paired comparisons)")
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    add_generation_flags(p, for_score=True)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("data", help="prompt sets from datasets (MIMIC-CXR, OpenI, PadChest), Table 1, labelling")
    p.add_argument("action", choices=("prompts", "stats", "label"))
    p.add_argument("text", nargs="*", help="(label) the free text to label")
    p.add_argument("--dataset", help="a registered dataset (cxrgen-bench ls datasets)")
    p.add_argument("--root", help="the dataset's folder (OpenI and PadChest labels work without it)")
    p.add_argument("--reports-root", help="(mimic-cxr) folder holding files/pXX/.../sNNN.txt if not under --root")
    p.add_argument("--split", default="p19", help="(mimic-cxr) train, p19, test, validate, pNN or pNN-pMM")
    p.add_argument("--views", default=None,
                   help="comma-separated views (PA, AP, LATERAL, LL) or ALL; default: PA for mimic-cxr, ALL otherwise")
    p.add_argument("--section", default="impression", help="impression, findings or impression-or-fallback")
    p.add_argument("--min-chars", type=int, default=7, help="drop texts shorter than this (paper: 7)")
    p.add_argument("--max-tokens", type=int, default=77, help="drop texts over this many CLIP tokens; 0 keeps all")
    p.add_argument("--no-finding-cap", type=int, default=None, help="keep at most this many No Finding prompts")
    p.add_argument("--limit", type=int, default=None, help="seeded sample of this many prompts (paper p19: 5000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the No Finding cap and --limit samples")
    p.add_argument("--no-image-check", action="store_true", help="do not check that image files exist")
    p.add_argument("--out", help="(prompts) CSV to write; its description goes to OUT.json")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--strict", dest="strict", action="store_true", help="stop at the first malformed row")
    group.add_argument("--lenient", dest="strict", action="store_false",
                       help="skip malformed rows and count them in the description (default)")
    p.set_defaults(strict=False)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("leaderboard", help="store results and rebuild the boards (Markdown, HTML, CSV, LaTeX, plots)")
    p.add_argument("action", choices=("add", "build", "import-reported"))
    p.add_argument("files", nargs="*", help="(add) results JSON files; (import-reported) YAML files of typed-in numbers")
    p.add_argument("--root", default="leaderboard", help="leaderboard folder (entries/ inside)")
    p.add_argument("--out", help="(build) where to write the boards (default: --root)")
    p.add_argument("--name", help="(add) entry name (default: from profile and model name)")
    p.add_argument("--replace", action="store_true", help="(add) overwrite an entry of the same name")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("gate", help="fail (exit 1) when a candidate regresses against a baseline")
    p.add_argument("--baseline", required=True)
    p.add_argument("--candidate", required=True)
    p.add_argument("--rules", help="YAML rules (see cxrgen_bench/gate.py); default: any worsening fails")
    p.add_argument("--force", action="store_true", help="compare even across profiles or prompt sets")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_gate)

    p = sub.add_parser("compare", help="paired differences of two results with 95%% CIs and p-values")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("train", help="the reference RoentGen trainer and its baselines (accelerate launch for many GPUs)")
    methods = p.add_subparsers(dest="method", required=True, metavar="METHOD")
    for name in TRAINERS.names():
        trainer = TRAINERS.get(name)()
        m = methods.add_parser(name, help=trainer.help, description=trainer.help)
        trainer.add_arguments(m)
        m.set_defaults(func=cmd_train, trainer=trainer)

    p = sub.add_parser("demo", help="the calibration benchmark with known answers, offline (the README's main job)")
    p.add_argument("--out", default="cxrgen-demo", help="folder for images, results and the leaderboard")
    p.add_argument("--prompts", type=int, default=64, help="phantom prompts (4 samples each per stand-in)")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for the CIs")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("weights", help="where weights are looked for; convert official files to safetensors")
    p.add_argument("action", choices=("where", "convert"))
    p.add_argument("backbone", nargs="?")
    p.add_argument("source", nargs="?", help="(convert) the official weights file")
    p.add_argument("--out", help="(convert) destination .safetensors")
    p.add_argument("--allow-pickle", action="store_true", help="(convert) trust a pickle/TorchScript source file")
    p.add_argument("--profile", default="roentgen2022")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_weights)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse stops filling a nargs="*" positional at the first option: `leaderboard add --root R a.json`
    # leaves a.json over. Give such leftovers back to the command's list positional.
    listed = next((name for name in ("files", "text") if isinstance(getattr(args, name, None), list)), None)
    if extra and listed and not any(e.startswith("-") for e in extra):
        getattr(args, listed).extend(extra)
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except CxrgenError as exc:
        print(f"cxrgen-bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cxrgen-bench: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
