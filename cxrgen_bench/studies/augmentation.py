"""`cxrgen-bench study augmentation`: downstream utility of synthetic images (RoentGen §7, Table 5).

A classifier (DenseNet-121 from scratch, `training/classifier.py`) is trained on each training mix of
the plan — real only, synthetic only, real + synthetic, at the paper's sizes — for each seed, selected
on real validation images and scored on held-out real test images. One unit per (mix, seed); every
unit checkpoints each epoch, so a killed study resumes where it stopped and ends with the numbers of
an uninterrupted run.

Data, and how each part is chosen (all recorded in the results):
- real pool: `--real-train` (a prompts CSV with CheXpert labels and `image_path` under `--images-root`);
  the validation images are `--real-val`, or a fixed share of the pool (`validation_fraction`, drawn
  once with `validation_seed`) that no mix trains on;
- synthetic pool: every image of `--synthetic` (each sample of each prompt), labelled with its prompt's
  labels from `--synthetic-prompts` (default: the real training CSV, the prompts the generator was
  given, as in the paper);
- a mix of R real and S synthetic images for seed s takes the first R of a permutation of the real pool
  drawn with s and the first S of one of the synthetic pool: mixes of one seed share their real images
  (the pairing of the difference to the baseline), and smaller sizes are subsets of larger ones;
- test: `--real-test`, never trained or selected on.
Every image is decoded once into a memory-mapped uint8 cache at the training resolution
(`training/image_cache.py`), shared by all mixes and seeds (OUT/cache/).
"""
from __future__ import annotations

import argparse
import shutil
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..data.labels import LabelPolicy, policy_for
from ..data.manifest import ImageSet, PromptSet
from ..errors import InputError
from ..training.classifier import ClassifierSettings, predict, scores, train_classifier
from ..training.image_cache import RULE, CachedSet, Rows, build_cache
from .base import Study, Unit
from ..results.entry import Entry, SubgroupView

METRIC = "augmentation_auroc"  # the profile block holding the study's settings
PAPER_PLAN = ("1100:0", "0:1100", "1100:1100", "0:5500", "1100:5500", "30000:0", "0:30000", "30000:30000")
REGIMES = ("real", "synthetic", "real+synthetic")


def parse_plan(items: list[str] | tuple[str, ...], where: str) -> list[tuple[int, int]]:
    """"R:S" items → (real, synthetic) counts."""
    plan = []
    for item in items:
        r, sep, s = str(item).partition(":")
        try:
            pair = (int(r), int(s))
        except ValueError:
            pair = None
        if not sep or pair is None or min(pair) < 0 or sum(pair) == 0:
            raise InputError(f"{where}: {item!r} is not REAL:SYNTHETIC counts (e.g. 1100:1100, 0:5500)")
        if pair in plan:
            raise InputError(f"{where}: {item!r} is listed twice")
        plan.append(pair)
    if not plan:
        raise InputError(f"{where}: the plan is empty")
    return plan


def plan_from_regimes(regimes: list[str], sizes: list[int]) -> list[str]:
    """--regimes real,synthetic,real+synthetic --sizes 1100,5500 → every regime at every size."""
    unknown = [r for r in regimes if r not in REGIMES]
    if unknown:
        raise InputError(f"--regimes: unknown {unknown}; known: {', '.join(REGIMES)}")
    pairs = {"real": lambda n: (n, 0), "synthetic": lambda n: (0, n), "real+synthetic": lambda n: (n, n)}
    return [f"{r}:{s}" for n in sizes for r, s in (pairs[g](n) for g in regimes)]


def mix_key(real: int, synthetic: int) -> str:
    """The results option of a mix: "real-1100", "synthetic-5500", "real-1100+synthetic-1100"."""
    return "+".join(p for p in (f"real-{real}" if real else "", f"synthetic-{synthetic}" if synthetic else "") if p)


def mix_label(real: int, synthetic: int) -> str:
    """As the paper's rows: "1.1k real + 5.5k synthetic"."""
    def k(n: int) -> str:
        return f"{n / 1000:g}k" if n >= 1000 else str(n)
    return " + ".join(p for p in (f"{k(real)} real" if real else "", f"{k(synthetic)} synthetic" if synthetic else "")
                      if p)


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{flag} {text!r}: expected comma-separated integers") from None
    if not values or min(values) < 0:
        raise InputError(f"{flag} {text!r}: expected comma-separated non-negative integers")
    return values


class AugmentationStudy(Study):
    name = "augmentation"
    version = "1"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.after_epoch = None  # called with each finished epoch (tests stop a run there, as a kill would)
    help = ("RoentGen Table 5: a DenseNet-121 trained from scratch on real, synthetic and real+synthetic images, "
            "scored on held-out real test images (resumable)")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--real-train", required=True, help="prompts CSV of the real training pool (labels, image_path)")
        parser.add_argument("--real-test", required=True, help="prompts CSV of the held-out real test images")
        parser.add_argument("--real-val", help="prompts CSV of real validation images (default: a fixed share of "
                                               "--real-train, set by the profile's validation_fraction)")
        parser.add_argument("--images-root", required=True, help="folder the CSVs' image_path values are relative to")
        parser.add_argument("--synthetic", help="folder of generated images ({prompt_id}_{k}.png or a manifest.csv)")
        parser.add_argument("--synthetic-prompts", help="prompts CSV labelling the synthetic images by prompt_id "
                                                        "(default: --real-train)")
        parser.add_argument("--plan", help="training mixes REAL:SYNTHETIC, comma-separated (default: the profile's, "
                                           "RoentGen Table 5: " + ",".join(PAPER_PLAN) + ")")
        parser.add_argument("--regimes", help="instead of --plan: real,synthetic,real+synthetic at every --sizes")
        parser.add_argument("--sizes", help="with --regimes: image counts, e.g. 1100,5500,30000")
        parser.add_argument("--seeds", help="training seeds (default: the profile's, 0,1,2)")
        parser.add_argument("--fairness-by", help="also score each classifier per group of the test patients: "
                                                  "comma-separated columns of --real-test (sex, age_band, race, ...): "
                                                  "AUROC per group and the underdiagnosis gap (No Finding's "
                                                  "false-positive rate, best vs worst group)")
        parser.add_argument("--max-epochs", type=int, help="override the profile's max_epochs (recorded)")
        parser.add_argument("--resolution", type=int, help="override the profile's training resolution (recorded)")

    @classmethod
    def settings_from_args(cls, args: argparse.Namespace) -> dict[str, Any]:
        if args.plan and (args.regimes or args.sizes):
            raise InputError("--plan and --regimes/--sizes both given: use one")
        if bool(args.regimes) != bool(args.sizes):
            raise InputError("--regimes and --sizes go together (e.g. --regimes real,synthetic --sizes 1100,5500)")
        plan = (args.plan.split(",") if args.plan else
                plan_from_regimes(args.regimes.split(","), _ints(args.sizes, "--sizes")) if args.regimes else None)
        settings: dict[str, Any] = {
            "real_train": args.real_train, "real_test": args.real_test, "real_val": args.real_val,
            "images_root": args.images_root, "synthetic": args.synthetic,
            "synthetic_prompts": args.synthetic_prompts, "plan": plan,
            "seeds": _ints(args.seeds, "--seeds") if args.seeds else None, "overrides": {}}
        if args.fairness_by:  # only when asked: a folder of an earlier run keeps its identity
            settings["fairness_by"] = [a.strip() for a in args.fairness_by.split(",") if a.strip()]
        for flag in ("max_epochs", "resolution"):
            value = getattr(args, flag)
            if value is not None:
                if value < 1:
                    raise InputError(f"--{flag.replace('_', '-')} must be a positive integer")
                settings["overrides"][flag] = value
        return settings

    # --- configuration -----------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The profile's block with this run's overrides."""
        cfg = dict(self.profile.metrics.get(METRIC) or {})
        if not cfg:
            raise InputError(f"profile {self.profile.name} has no `{METRIC}` block (the augmentation study's settings)")
        classifier = {**(cfg.get("classifier") or {}), **(self.settings.get("overrides") or {})}
        plan = self.settings.get("plan") or cfg.get("plan") or list(PAPER_PLAN)
        return {**cfg, "classifier": classifier, "plan": plan,
                "seeds": self.settings.get("seeds") or cfg.get("seeds") or [0, 1, 2]}

    @property
    def classifier(self) -> ClassifierSettings:
        return ClassifierSettings.from_config(self.config()["classifier"], f"profile {self.profile.name}: {METRIC}")

    @property
    def plan(self) -> list[tuple[int, int]]:
        return parse_plan(self.config()["plan"], "plan")

    @property
    def classes(self) -> list[str]:
        classes = list(self.config().get("classes") or ())
        if not classes:
            raise InputError(f"profile {self.profile.name}: {METRIC}.classes is empty")
        return classes

    @property
    def policy(self) -> LabelPolicy:
        """Training labels (U-Ones by default: an uncertain finding trains as present)."""
        cfg = self.config().get("labels")
        return LabelPolicy.from_config(cfg) if cfg else policy_for("augmentation")

    @property
    def eval_policy(self) -> LabelPolicy:
        """Validation and test labels: an uncertain finding is left out of that class's AUROC and accuracy
        by default (U-Ones is a way to train, not a ground truth to score against)."""
        cfg = self.config().get("eval_labels")
        return LabelPolicy.from_config(cfg) if cfg else LabelPolicy(uncertain=None, blank=0.0)

    def baseline(self) -> tuple[int, int] | None:
        """The mix gains are measured against: the profile's `baseline` when the plan has it (Table 5: 1.1k
        real), else the plan's smallest real-only mix; None when the plan has no real-only mix."""
        configured = self.config().get("baseline")
        if configured and parse_plan([configured], "baseline")[0] in self.plan:
            return parse_plan([configured], "baseline")[0]
        real_only = sorted(m for m in self.plan if m[1] == 0)
        return real_only[0] if real_only else None

    def units(self) -> list[Unit]:
        if any(s for _, s in self.plan) and not self.settings.get("synthetic"):
            raise InputError("the plan has synthetic mixes but no --synthetic folder was given")
        return [Unit(f"r{r}-s{s}-seed{seed}", seed, {"real": r, "synthetic": s})
                for r, s in self.plan for seed in self.config()["seeds"]]

    @cached_property
    def synthetic_images(self) -> ImageSet:
        """The synthetic folder, read (and every file hashed) once: its identity, labels and cache share it."""
        return ImageSet.from_folder(self.settings["synthetic"])

    def data(self) -> dict[str, Any]:
        """Identity of the inputs (re-running with other data in the same folder is refused)."""
        out: dict[str, Any] = {}
        for key in ("real_train", "real_val", "real_test", "synthetic_prompts"):
            if self.settings.get(key):
                out[key] = PromptSet.from_csv(self.settings[key]).sha256
        if self.settings.get("synthetic"):
            out["synthetic"] = self.synthetic_images.content_sha256
        out["classifier"] = self.classifier.as_dict()
        out["classes"] = self.classes
        out["labels"] = self.policy.as_dict()
        out["eval_labels"] = self.eval_policy.as_dict()
        out["validation"] = {k: self.config().get(k) for k in ("validation_fraction", "validation_seed")}
        return out

    # --- data ----------------------------------------------------------------------------------------
    def _labels(self, prompts: PromptSet, pids: list[str], where: str, policy: LabelPolicy) -> np.ndarray:
        missing = [c for c in self.classes if c not in prompts.label_names]
        if missing:
            raise InputError(f"{prompts.path}: no label column(s) {missing} for the study's classes ({where}); "
                             f"found {list(prompts.label_names) or 'none'}")
        return np.array([[policy.apply(prompts.prompts[pid].labels.get(c)) for c in self.classes] for pid in pids],
                        dtype=np.float64).reshape(len(pids), len(self.classes))

    def _real(self, csv: str, name: str, folder: Path) -> tuple[CachedSet, PromptSet]:
        prompts = PromptSet.from_csv(csv)
        root = Path(self.settings["images_root"])
        no_path = [pid for pid, p in prompts.prompts.items() if not p.image_path]
        if no_path:
            raise InputError(f"{csv}: {len(no_path)} row(s) have no image_path, e.g. {no_path[:3]}; the study trains "
                             "and tests on images")
        items = [(pid, root / p.image_path) for pid, p in sorted(prompts.prompts.items())]
        return build_cache(folder, name, items, self.classifier.resolution, self.progress), prompts

    def _test_groups(self, prompts: PromptSet, ids: list[str]) -> dict[str, list[str]]:
        """attribute → each test image's group (its first, for an attribute a patient can have several of)."""
        from ..data.subgroups import groups_of, settings

        attributes = self.settings.get("fairness_by") or []
        if attributes and "No Finding" not in self.classes:
            raise InputError("--fairness-by measures underdiagnosis, the false-positive rate of No Finding: the "
                             f"profile's {METRIC}.classes must include No Finding")
        config = settings(self.profile.subgroups)
        return {a: [groups_of(prompts, a, config)[i][0] for i in ids] for a in attributes}

    def _synthetic(self, folder: Path) -> tuple[CachedSet, np.ndarray, list[str]]:
        images = self.synthetic_images
        prompts = PromptSet.from_csv(self.settings.get("synthetic_prompts") or self.settings["real_train"])
        unlabelled = sorted({r.prompt_id for r in images.records} - set(prompts.prompts))
        if unlabelled:
            raise InputError(f"{images.root}: {len(unlabelled)} prompt id(s) of synthetic images have no labels in "
                             f"{prompts.path}, e.g. {unlabelled[:5]}; pass the prompts CSV they were generated from "
                             "(--synthetic-prompts)")
        items = [(f"{r.prompt_id}_{r.sample_idx}", r.path) for r in images.records]
        cache = build_cache(folder, "synthetic", items, self.classifier.resolution, self.progress,
                            digests=[r.sha256 for r in images.records])
        pids = [r.prompt_id for r in images.records]
        return cache, self._labels(prompts, pids, "synthetic", self.policy), pids

    def _sets(self, out: Path) -> dict[str, Any]:
        """Pools to draw mixes from (memory maps, with label arrays) and the validation and test sets."""
        if getattr(self, "_cached_sets", None) is not None:
            return self._cached_sets
        cache = out / "cache"
        pool, pool_prompts = self._real(self.settings["real_train"], "real-train", cache)
        test, test_prompts = self._real(self.settings["real_test"], "real-test", cache)
        sets: dict[str, Any] = {
            "pool": pool, "pool_labels": self._labels(pool_prompts, list(pool.ids), "real-train", self.policy),
            "pool_idx": np.arange(len(pool)),
            "test": (test.pixels, self._labels(test_prompts, list(test.ids), "real-test", self.eval_policy)),
            "test_groups": self._test_groups(test_prompts, list(test.ids))}
        held = {"real-test": (list(test.ids), test.index["sha256"])}  # (ids, file hashes) nothing may train on
        if self.settings.get("real_val"):
            val, val_prompts = self._real(self.settings["real_val"], "real-val", cache)
            sets["val"] = (val.pixels, self._labels(val_prompts, list(val.ids), "real-val", self.eval_policy))
            held["real-val"] = (list(val.ids), val.index["sha256"])
        else:
            fraction = float(self.config().get("validation_fraction", 0.1))
            n = len(pool)
            n_val = max(2, round(fraction * n))
            if not 0 < fraction < 1 or n_val >= n:
                raise InputError(f"validation_fraction {fraction} of {n} real training images leaves no training or "
                                 "no validation images; pass --real-val")
            order = np.random.default_rng(int(self.config().get("validation_seed", 0))).permutation(n)
            val_idx = np.sort(order[:n_val])
            sets["pool_idx"] = np.sort(order[n_val:])
            val_ids = [pool.ids[i] for i in val_idx]
            sets["val"] = (np.asarray(pool.pixels[val_idx]),
                           self._labels(pool_prompts, val_ids, "real-train (validation share)", self.eval_policy))
            held["validation share of real-train"] = (val_ids, [pool.index["sha256"][i] for i in val_idx])
        training = {"real-train": ([pool.ids[i] for i in sets["pool_idx"]],
                                   [pool.index["sha256"][i] for i in sets["pool_idx"]])}
        if self.settings.get("synthetic"):
            syn, syn_labels, syn_pids = self._synthetic(cache)
            sets["synthetic"], sets["synthetic_labels"] = syn, syn_labels
            # an image generated from a validation or test report carries that report's findings into
            # training: left out (recorded), so a model is never selected or scored on its own prompt
            held_ids = {i for ids, _ in held.values() for i in ids}
            keep = np.array([p not in held_ids for p in syn_pids], dtype=bool)
            sets["synthetic_idx"] = np.flatnonzero(keep)
            sets["synthetic_excluded"] = {"count": int((~keep).sum()),
                                          "examples": [syn.ids[i] for i in np.flatnonzero(~keep)[:5]],
                                          "why": "generated from the prompt of a validation or test image"}
            training["synthetic"] = ([syn.ids[i] for i in sets["synthetic_idx"]],
                                     [syn.index["sha256"][i] for i in sets["synthetic_idx"]])
        _refuse_overlaps(training, held)
        # the sizes every set's images came in (all are resized to the training resolution by one rule)
        sets["source_sizes"] = {name: c.index.get("source_sizes") for name, c in
                                (("real-train", pool), ("real-test", test), ("synthetic", sets.get("synthetic")))
                                if c is not None}
        for split in ("val", "test"):
            self._check_split(split, sets[split][1])
        self._cached_sets = sets
        return sets

    def check(self, out: Path) -> None:
        """Every mix of the plan fits the data: checked before the first unit trains, not when it is reached."""
        sets = self._sets(out)
        for real, synthetic in self.plan:
            self._check_sizes(sets, real, synthetic)

    def _check_sizes(self, sets: dict[str, Any], real: int, synthetic: int) -> None:
        if real > len(sets["pool_idx"]):
            raise InputError(f"mix {mix_label(real, synthetic)}: {real} real images asked for, the real training pool "
                             f"has {len(sets['pool_idx'])} (after setting validation images aside)")
        n_syn = len(sets.get("synthetic_idx", ()))
        if synthetic > n_syn:
            excluded = sets.get("synthetic_excluded", {}).get("count", 0)
            raise InputError(f"mix {mix_label(real, synthetic)}: {synthetic} synthetic images asked for, "
                             f"{self.settings.get('synthetic')} has {n_syn}"
                             + (f" usable ({excluded} generated from validation or test prompts are left out)"
                                if excluded else ""))

    def _check_split(self, split: str, labels: np.ndarray) -> None:
        """Validation and test must let every class be scored: an AUROC needs both label values."""
        for j, c in enumerate(self.classes):
            known = labels[~np.isnan(labels[:, j]), j]
            if known.size == 0 or known.min() == known.max():
                lacking = "negative" if known.size and known.min() == 1 else "positive"
                raise InputError(f"the {split} split has no {lacking} images of {c!r} ({known.size} labelled): its "
                                 f"AUROC is undefined. Use a larger {split} set or drop the class from the profile's "
                                 f"{METRIC}.classes")

    def _mix(self, sets: dict[str, Any], real: int, synthetic: int, seed: int) -> tuple[Rows, np.ndarray, dict]:
        self._check_sizes(sets, real, synthetic)
        pool_idx, syn = sets["pool_idx"], sets.get("synthetic")
        real_idx = np.sort(pool_idx[np.random.default_rng([seed, 1]).permutation(len(pool_idx))[:real]])
        usable = sets.get("synthetic_idx", np.zeros(0, dtype=int))
        syn_idx = np.sort(usable[np.random.default_rng([seed, 2]).permutation(len(usable))[:synthetic]])
        x = Rows([(sets["pool"].pixels, real_idx)] + ([(syn.pixels, syn_idx)] if synthetic else []))
        y = np.concatenate([sets["pool_labels"][real_idx]] + ([sets["synthetic_labels"][syn_idx]] if synthetic else []))
        chosen = {"real_ids_sha256": _ids_hash([sets["pool"].ids[i] for i in real_idx]),
                  "synthetic_ids_sha256": _ids_hash([syn.ids[i] for i in syn_idx]) if synthetic else None,
                  "positives": {c: int(np.nansum(y[:, j])) for j, c in enumerate(self.classes)}}
        return x, y, chosen

    # --- the study ------------------------------------------------------------------------------------
    def run_unit(self, unit: Unit, folder: Path) -> dict[str, Any]:
        sets = self._sets(folder.parent.parent)
        real, synthetic = unit.settings["real"], unit.settings["synthetic"]
        x, y, chosen = self._mix(sets, real, synthetic, unit.seed)
        settings = self.classifier
        model, record = train_classifier((x, y), sets["val"], self.classes, settings, unit.seed, folder,
                                         self.options.device, self.progress, after_epoch=self.after_epoch)
        test_pixels, test_labels = sets["test"]
        probabilities = predict(model, test_pixels, settings, self.options.device)
        test = scores(probabilities, test_labels, self.classes, settings.threshold)
        fairness = self._fairness(probabilities, test_labels, sets["test_groups"], settings.threshold)
        from safetensors.torch import (
            save_file,  # the selected model stays, in safetensors
        )

        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "best.safetensors"),
                  metadata={"architecture": settings.architecture, "classes": ",".join(self.classes)})
        return {"real": real, "synthetic": synthetic, "seed": unit.seed, "test": test, "n_test": len(test_labels),
                "source_sizes": sets["source_sizes"], "synthetic_excluded": sets.get("synthetic_excluded"),
                "best_epoch": record["best_epoch"], "epochs": record["epoch"] + 1, "stopped": record["stopped"],
                "val_best_auroc": record["best_auroc"], "history": record["history"], **chosen,
                **({"fairness": fairness} if fairness else {})}

    def _fairness(self, probabilities: np.ndarray, labels: np.ndarray, groups: dict[str, list[str]],
                  threshold: float) -> dict[str, Any]:
        """Per attribute and group of the test patients: mean AUROC over the classes, and underdiagnosis."""
        from ..data.subgroups import UNKNOWN
        from ..functional.subgroups import underdiagnosis

        out: dict[str, Any] = {}
        nf = self.classes.index("No Finding") if "No Finding" in self.classes else None
        for attribute, members in groups.items():
            labels_of = np.array(members, dtype=object)
            rates = underdiagnosis(probabilities[:, nf], labels[:, nf], members, threshold) if nf is not None else {}
            per_group = {}
            for g in sorted(set(members) - {UNKNOWN}):
                rows = labels_of == g
                auroc = scores(probabilities[rows], labels[rows], self.classes, threshold)["mean_auroc"] \
                    if rows.sum() > 1 else None
                per_group[g] = {"auroc": auroc, "n": int(rows.sum()), "underdiagnosis": rates.get(g, {}).get("rate"),
                                "n_with_finding": rates.get(g, {}).get("n", 0)}
            out[attribute] = {"groups": per_group, "unknown": int((labels_of == UNKNOWN).sum())}
        return out

    def unit_done(self, unit: Unit, folder: Path) -> None:
        # the per-epoch training state was only for resuming this unit, whose outputs are now on disk
        for checkpoint in folder.glob("checkpoint-*"):
            shutil.rmtree(checkpoint, ignore_errors=True)

    def summarise(self, outputs: dict[str, dict[str, Any]]) -> list[Entry]:
        seeds = list(self.config()["seeds"])
        base = self.baseline()
        by_mix: dict[tuple[int, int], dict[int, dict[str, Any]]] = {}
        for o in outputs.values():
            by_mix.setdefault((o["real"], o["synthetic"]), {})[o["seed"]] = o
        common = {"classes": self.classes, "classifier": self.classifier.as_dict(), "labels": self.policy.as_dict(),
                  "eval_labels": self.eval_policy.as_dict(), "cache_rule": RULE, "seeds": seeds}
        entries = []
        for real, synthetic in self.plan:
            runs = by_mix.get((real, synthetic), {})
            option, label = mix_key(real, synthetic), mix_label(real, synthetic)
            overrides = self.settings.get("overrides") or {}
            if overrides:  # a quick run says so wherever its rows are shown
                label += " (" + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(overrides.items())) + ")"
            mix = {"real": real, "synthetic": synthetic}
            for metric, field, per_class in (("augmentation_auroc", "mean_auroc", "auroc"),
                                             ("augmentation_accuracy", "mean_accuracy", "accuracy")):
                values = {s: runs[s]["test"][field] for s in seeds if s in runs and runs[s]["test"][field] is not None}
                classes = {c: _mean([runs[s]["test"][per_class][c] for s in values]) for c in self.classes}
                details = {**common, "row_label": label, "mix": mix, "per_seed": values, "per_class": classes,
                           "source_sizes": next((r.get("source_sizes") for r in runs.values()), None),
                           "synthetic_excluded": next((r.get("synthetic_excluded") for r in runs.values()), None),
                           "n_test": next((r["n_test"] for r in runs.values()), None),
                           "best_epochs": {s: runs[s]["best_epoch"] for s in values},
                           "stopped": {s: runs[s]["stopped"] for s in values}}
                entries.append(self.entry(metric, f"{metric}[{option}]", _mean(list(values.values())), len(seeds),
                                          len(values), details, **_spread(list(values.values()), (0.0, 1.0))))
            if base and (real, synthetic) != base and base in by_mix:
                paired = {s: runs[s]["test"]["mean_auroc"] - by_mix[base][s]["test"]["mean_auroc"]
                          for s in seeds if s in runs and s in by_mix[base]}
                details = {**common, "row_label": label, "mix": mix, "baseline": mix_label(*base), "per_seed": paired,
                           "pairing": "by seed: the same real images and initialisation seed"}
                entries.append(self.entry("augmentation_auroc_gain", f"augmentation_auroc_gain[{option}]",
                                          _mean(list(paired.values())), len(seeds), len(paired), details,
                                          **_spread(list(paired.values()), (-1.0, 1.0))))
            entries += self._fairness_entries(runs, by_mix.get(base, {}) if base and (real, synthetic) != base else {},
                                              option, label, mix, seeds, common, entries)
        return entries

    def _fairness_entries(self, runs: dict[int, dict[str, Any]], baseline: dict[int, dict[str, Any]], option: str,
                          label: str, mix: dict[str, int], seeds: list[int], common: dict[str, Any],
                          entries: list[Entry]) -> list[Entry]:
        """Per attribute: the AUROC per group beside the mix's AUROC entry (its subgroups), and the
        underdiagnosis gap (best − worst group's No-Finding false-positive rate) over seeds, with its change
        against the baseline mix paired by seed."""
        from ..functional.subgroups import gap_of

        out = []
        auroc_entry = next((e for e in entries if e.key == f"augmentation_auroc[{option}]"), None)
        for attribute in self.settings.get("fairness_by") or []:
            per_seed = {s: runs[s]["fairness"][attribute]["groups"] for s in seeds if s in runs and "fairness" in runs[s]}
            if not per_seed:
                continue
            groups = sorted({g for v in per_seed.values() for g in v})
            min_size = int(self.profile.subgroups.get("min_size", 10))

            def mean_of(field: str, g: str) -> float | None:
                return _mean([v.get(g, {}).get(field) for v in per_seed.values()])

            n_of = {g: max(v.get(g, {}).get("n", 0) for v in per_seed.values()) for g in groups}
            ranked = [g for g in groups if n_of[g] >= min_size]
            if auroc_entry is not None:
                rows = {g: {"value": mean_of("auroc", g), "n": n_of[g], "ci": None,
                            **({} if g in ranked else {"too_small": True})} for g in groups}
                gap, worst = gap_of({g: rows[g]["value"] for g in ranked}, True)
                auroc_entry.add_subgroups(attribute, SubgroupView.from_json({
                    "groups": rows, "gap": {"value": gap, "ci": None}, "worst": worst, "min_size": min_size,
                    "over": "test patients of each group, mean over seeds"}))

            def gap_per_seed(source: dict[int, dict[str, Any]]) -> dict[int, float]:
                out_: dict[int, float] = {}
                for s, run in source.items():
                    groups_ = (run.get("fairness") or {}).get(attribute, {}).get("groups", {})
                    gap_, _ = gap_of({g: groups_[g]["underdiagnosis"] for g in groups_
                                      if groups_[g]["n_with_finding"] >= min_size}, False)
                    if gap_ is not None:
                        out_[s] = gap_
                return out_

            gaps = gap_per_seed({s: runs[s] for s in per_seed})
            rates = {g: mean_of("underdiagnosis", g) for g in groups}
            _, worst = gap_of({g: rates[g] for g in ranked}, False)
            details = {**common, "row_label": f"{label} · {attribute}", "mix": mix, "attribute": attribute,
                       "per_seed": gaps, "underdiagnosis_per_group": rates, "worst": worst,
                       "definition": "false-positive rate of No Finding among test patients with a finding "
                                     "(Seyyed-Kalantari et al. 2021), per group; gap = max − min over groups"}
            out.append(self.entry("augmentation_underdiagnosis_gap", f"augmentation_underdiagnosis_gap[{option}@{attribute}]",
                                  _mean(list(gaps.values())), len(seeds), len(gaps), details,
                                  **_spread(list(gaps.values()), (0.0, 1.0))))
            base_gaps = gap_per_seed(baseline)
            paired = {s: gaps[s] - base_gaps[s] for s in gaps if s in base_gaps}
            if paired:
                out.append(self.entry("augmentation_underdiagnosis_gap_change",
                                      f"augmentation_underdiagnosis_gap_change[{option}@{attribute}]",
                                      _mean(list(paired.values())), len(seeds), len(paired),
                                      {**details, "per_seed": paired, "pairing": "by seed, against the baseline mix"},
                                      **_spread(list(paired.values()), (-1.0, 1.0))))
        return out


def _refuse_overlaps(training: dict[str, tuple[list[str], list[str]]],
                     held: dict[str, tuple[list[str], list[str]]]) -> None:
    """No file that validates or tests may train (the same bytes under any name): named, not scored."""
    for held_name, (held_ids, held_hashes) in held.items():
        where = dict(zip(held_hashes, held_ids))
        for train_name, (train_ids, train_hashes) in training.items():
            shared = [(i, where[h]) for i, h in zip(train_ids, train_hashes) if h in where]
            if shared:
                raise InputError(f"{len(shared)} image(s) of {train_name} are also in {held_name} (identical files), "
                                 f"e.g. {shared[:3]}: a model would be scored on images it trained on. Remove them "
                                 "from one of the sets")
    names = list(held)
    for a, b in zip(names, names[1:]):
        where = dict(zip(held[b][1], held[b][0]))
        shared = [(i, where[h]) for i, h in zip(*held[a]) if h in where]
        if shared:
            raise InputError(f"{len(shared)} image(s) are in both {a} and {b} (identical files), e.g. {shared[:3]}: "
                             "validation and test must be disjoint")


def _ids_hash(ids: list[str]) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(ids).encode()).hexdigest()


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def _spread(values: list[float], value_range: tuple[float, float]) -> dict[str, Any]:
    """std over seeds and a 95% t-interval of their mean (None with one seed: no spread to speak of)."""
    from ..metrics.ms_ssim import mean_ci

    if len(values) < 2:
        return {"std": None, "ci95": None}
    _, lo, hi = mean_ci(np.asarray(values, dtype=np.float64))
    return {"std": float(np.std(values, ddof=1)), "ci95": [max(lo, value_range[0]), min(hi, value_range[1])]}
