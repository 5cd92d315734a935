"""`vae-reconstruction` (seeds/001 §2.3, Table 1): real images encoded and decoded by an autoencoder
(a diffusers pipeline's VAE, or a calibration codec), compared with the originals.

Per pair: RMSE, PSNR, SSIM (functional/reconstruction.py), the cosine similarity of the classifier's
embeddings, and the classifier's thresholded reading of each class. Per set: the Fréchet distance
of the reconstructions to the originals on each backbone, and per class the classifier's accuracy
and F1 against the labels on originals and reconstructions (and the %change, as Table 1 prints it)
and the agreement of the two readings. Means carry image-level bootstrap CIs.

Pixels: each image is read as the canonical grayscale in [0, 1] (`data.images`), brought to
`resolution`² (the autoencoder's input; `resize: clean`: shorter side to the resolution by the
project's clean bicubic resize, centre crop; `resize: none`: images must already have that size),
repeated onto the autoencoder's channels and scaled to [−1, 1]. The decoded image is clamped to
[−1, 1], mapped back to [0, 1] and, from three channels, reduced to grayscale with the BT.601 luma
weights the image reader uses for colour files. Every measure compares that grayscale with the
resized original, so the study isolates the autoencoder from the resize.

Units: chunks of `chunk` images in sorted (id, sample) order, each writing its per-image numbers
(and the backbones' features of both sides to its folder, as .npz), then one `frechet` unit that
reads those features: a final unit, run after every chunk by the process that writes the results
(under torchrun the chunks are shared between processes); a killed run resumes at the first
unfinished chunk.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..data.images import LUMA_WEIGHTS, LoadedImage, read_image
from ..data.labels import LabelPolicy
from ..data.manifest import ImageRecord, ImageSet, PromptSet
from ..errors import InputError
from ..files import atomic_write_bytes
from ..functional import reconstruction as F
from ..functional.bootstrap import paired_difference, percentile_ci, resample_weights
from ..functional.resize import square
from ..metrics.reconstruction import VAEReconstructionSettings
from ..results.entry import Bootstrap, Entry
from .base import Study, Unit

PROFILE_BLOCK = "vae_reconstruction"  # the profile's `metrics:` block holding this study's settings
RESIZES = ("clean", "none")
FRECHET_UNIT = "frechet"
# what the profile's block and the flags fall back on (null where it comes from elsewhere in the profile)
DEFAULTS: dict[str, Any] = VAEReconstructionSettings().to_dict()


class Resamples(NamedTuple):
    """The image-level bootstrap of one summary: every CI of the study is computed on these same weights."""
    weights: np.ndarray  # (resamples, n images) multiplicities
    seed: int
    units_sha256: str  # of the images' ids, in the order of the weights' columns


class VAEReconstruction(Study):
    name = "vae-reconstruction"
    version = "1"
    help = "encode and decode real images with a VAE: RMSE/PSNR/SSIM, FD, classifier agreement (seeds/001 Table 1)"

    def __init__(self, settings: dict[str, Any], profile: Any = "roentgen2022", options: Any = None):
        super().__init__(settings, profile, options)
        given = dict(settings)
        # batch size changes no number (each image is reconstructed on its own): a run option, not an identity
        batch_size = given.pop("batch_size", None)
        self.batch_size = _count(self.options.batch_size if batch_size is None else batch_size, "batch_size", 1)
        block = self.profile.settings_for(PROFILE_BLOCK).to_dict()  # checked and typed when the profile loaded
        merged = {**block, **{k: v for k, v in given.items() if v is not None}}
        self.settings = json.loads(json.dumps(self._resolve(merged)))  # as study.json will read it back
        self._load_inputs()

    # --- settings ---------------------------------------------------------------------------------
    def _resolve(self, s: dict[str, Any]) -> dict[str, Any]:
        if not s.get("vae"):
            raise InputError("vae-reconstruction needs --vae (a diffusers VAE or pipeline folder, or an autoencoder "
                             "name: cxrgen-bench ls autoencoders)")
        if not s.get("images"):
            raise InputError("vae-reconstruction needs --images (a folder of real images)")
        from ..registry import AUTOENCODERS

        if s["vae"] in AUTOENCODERS and not Path(s["vae"]).exists():
            s["autoencoder"], s["vae"] = s["vae"], None  # a registered autoencoder that needs no folder
        else:
            s["vae"] = str(Path(s["vae"]).resolve())
        s["images"] = str(Path(s["images"]).resolve())
        s["labels"] = str(Path(s["labels"]).resolve()) if s.get("labels") else None
        s["resolution"] = int(s["resolution"] or self.profile.generation.get("resolution") or 512)
        if s["resolution"] < F.SSIM_WIN:
            raise InputError(f"resolution {s['resolution']} is below the SSIM window ({F.SSIM_WIN} px)")
        if s["resize"] not in RESIZES:
            raise InputError(f"resize {s['resize']!r} unknown; choose from {', '.join(RESIZES)}")
        s["chunk"] = _count(s["chunk"], "chunk", 1)
        # 0 or a negative N would slice the image list from the end (records[:-3] drops three images)
        s["max_images"] = None if s["max_images"] is None else _count(s["max_images"], "max_images", 1)
        s["bootstrap"] = _count(s["bootstrap"], "bootstrap", 0)
        s["bootstrap_seed"] = _count(s["bootstrap_seed"], "bootstrap_seed", 0)
        if s["backbones"] is None:
            s["backbones"] = list(self.profile.metrics.get("fid", {}).get("backbones", []))
        classifier_cfg = self.profile.metrics.get("classifier_auroc", {})
        if s["classifier"] is None:
            s["classifier"] = classifier_cfg.get("backbone", "")
        if s["classifier"]:
            backbone = self.profile.backbone(s["classifier"])
            fallbacks = {"classes": classifier_cfg.get("classes"),
                         "classifier_preprocessing": classifier_cfg.get("preprocessing")
                         or backbone.get("classifier_preprocessing") or backbone["preprocessing"],
                         "embedding_layer": backbone["layer"]}  # the paper's "latent embeddings" (features2 for xrv)
            for key, value in fallbacks.items():
                if s.get(key) is None:
                    s[key] = value
            if not s["classes"]:
                raise InputError(f"profile {self.profile.name} maps no classifier outputs to CheXpert classes "
                                 f"(metrics: classifier_auroc: classes, or {PROFILE_BLOCK}: classes)")
        return s

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--vae", required=True, help="a diffusers pipeline folder, its vae/ folder, or a "
                            "registered autoencoder (codec-down2, codec-down8, codec-shuffle)")
        parser.add_argument("--autoencoder", help="the autoencoder plug-in reading --vae (default: diffusers)")
        parser.add_argument("--images", required=True, help="folder of real images (the originals)")
        parser.add_argument("--labels", help="CSV with prompt_id, text and CheXpert label columns, ids = the image "
                            "ids (for accuracy and F1 per class; without it, agreement and cosine only)")
        from ..flags import non_negative_int, positive_int

        parser.add_argument("--resolution", type=positive_int, help="the autoencoder's input side (default: the "
                            "profile's generation resolution)")
        parser.add_argument("--resize", choices=RESIZES, help="clean: shorter side to the resolution, centre crop "
                            "(default); none: images must already be resolution²")
        parser.add_argument("--chunk", type=positive_int, help="images per resumable unit (default 64)")
        parser.add_argument("--batch-size", type=positive_int, help="images per autoencoder call (changes no number)")
        parser.add_argument("--max-images", type=positive_int, help="use the first N images in sorted id order (N is "
                            "recorded as n.requested: fewer images in the folder show as n.effective < n.requested)")
        parser.add_argument("--backbones", help="comma-separated backbones for the Fréchet distance (default: the "
                            "profile's fid backbones; '' for none)")
        parser.add_argument("--classifier", help="backbone whose classifier reads both sides (default: the "
                            "profile's classifier_auroc backbone; '' for none)")
        parser.add_argument("--precision", choices=("fp32", "fp16", "bf16"), help="autoencoder precision")
        parser.add_argument("--bootstrap", type=non_negative_int, help="resamples for 95%% CIs (default 1000; 0: none)")
        parser.add_argument("--weights", action="append", default=[], metavar="BACKBONE=FILE",
                            help="weights file of a backbone (repeatable)")
        parser.add_argument("--allow-pickle", action="store_true", default=None,
                            help="allow .bin (pickle) VAE weights; recorded in the results")

    @classmethod
    def settings_from_args(cls, args: argparse.Namespace) -> dict[str, Any]:
        from ..flags import parse_weights

        out = {k: getattr(args, k) for k in ("vae", "autoencoder", "images", "labels", "resolution", "resize", "chunk",
                                            "batch_size", "max_images", "classifier", "precision", "bootstrap",
                                            "allow_pickle")}
        if args.backbones is not None:
            out["backbones"] = [b for b in args.backbones.split(",") if b]
        if args.weights:
            out["weights"] = parse_weights(args.weights)
        return out

    # --- inputs and models ---------------------------------------------------------------------
    def _load_inputs(self) -> None:
        from ..registry import AUTOENCODERS

        s = self.settings
        self.images = ImageSet.from_folder(s["images"])
        records = self.images.records
        self.records: list[ImageRecord] = records if s["max_images"] is None else records[: s["max_images"]]
        # what was asked for: a cap above the folder's size shows as n.effective < n.requested in every entry
        self.n_requested = len(records) if s["max_images"] is None else s["max_images"]
        self.labels = PromptSet.from_csv(s["labels"]) if s["labels"] else None
        if self.labels is not None and s["classifier"]:
            wanted = sorted(set(s["classes"].values()))
            if not set(wanted) & set(self.labels.label_names):
                raise InputError(f"{self.labels.path}: none of the label columns {', '.join(wanted)} the classifier "
                                 f"reads (found: {', '.join(self.labels.label_names) or 'no CheXpert columns'})")
            missing = [r for r in self.records if r.prompt_id not in self.labels.prompts]
            if missing:
                raise InputError(f"{self.labels.path}: no row for {len(missing)} image id(s), e.g. "
                                 f"{[r.prompt_id for r in missing[:3]]} ({missing[0].path})")
        self.autoencoder = AUTOENCODERS.get(s["autoencoder"])(s["vae"], device=self.options.device,
                                                             allow_pickle=bool(s["allow_pickle"]),
                                                             precision=s["precision"])
        self.autoencoder.check_size(s["resolution"], f"--resolution {s['resolution']}")
        self._backbones: dict[str, Any] = {}

    def backbone(self, name: str) -> Any:
        if name not in self._backbones:
            from ..models.image import build_backbone

            self._backbones[name] = build_backbone(name, self.profile.backbone(name),
                                                   weights=self.settings["weights"].get(name),
                                                   allow_pickle=False, device=self.options.device)
        return self._backbones[name]

    def _feature_backbones(self) -> list[str]:
        return list(dict.fromkeys(self.settings["backbones"] + ([self.settings["classifier"]]
                                                                if self.settings["classifier"] else [])))

    def data(self) -> dict[str, Any]:
        # Built here so that a missing weights file stops the study before any work, naming the file.
        return {"images": self.images.describe(), "n_used": len(self.records), "n_requested": self.n_requested,
                "labels": self.labels.describe() if self.labels else None,
                "autoencoder": {"name": self.autoencoder.name, **self.autoencoder.provenance},
                "backbones": {b: self.backbone(b).provenance for b in self._feature_backbones()}}

    # --- units --------------------------------------------------------------------------------------
    def units(self) -> list[Unit]:
        size = int(self.settings["chunk"])
        chunks = [Unit(f"chunk-{i // size:04d}", 0, {"first": i, "n": len(self.records[i:i + size])})
                  for i in range(0, len(self.records), size)]
        if self.settings["backbones"]:
            # reads every chunk's features: after all of them, whichever process ran them (see run_study)
            chunks.append(Unit(FRECHET_UNIT, 0, {"chunks": [u.id for u in chunks]}, final=True))
        return chunks

    def run_unit(self, unit: Unit, folder: Path) -> dict[str, Any]:
        if unit.id == FRECHET_UNIT:
            return self._frechet(unit, folder)
        records = self.records[unit.settings["first"]: unit.settings["first"] + unit.settings["n"]]
        loaded = [self._original(r) for r in records]
        originals = np.stack([pixels for pixels, _ in loaded])
        recon = self._reconstruct(originals)
        errors = F.mse(originals, recon)
        out: dict[str, Any] = {"ids": [r.prompt_id for r in records], "sample_idx": [r.sample_idx for r in records],
                               "rmse": np.sqrt(errors).tolist(), "psnr": F.psnr_from_mse(errors).tolist(),
                               "identical": int((errors == 0).sum()), "ssim": F.ssim(originals, recon).tolist(),
                               "resized": sum(resized for _, resized in loaded)}
        s = self.settings
        if s["classifier"]:
            net = self.backbone(s["classifier"])
            prep = s["classifier_preprocessing"]
            names = list(net.class_names)
            cols = [names.index(o) for o in s["classes"] if o in names]
            out["classes"] = [s["classes"][names[c]] for c in cols]
            out["probs_original"] = self._features(net, originals, prep, "classifier")[:, cols].tolist()
            out["probs_reconstruction"] = self._features(net, recon, prep, "classifier")[:, cols].tolist()
            emb = [self._features(net, x, prep, s["embedding_layer"]) for x in (originals, recon)]
            out["cosine"] = F.cosine_similarity(*emb).tolist()
        arrays = {}
        for name in s["backbones"]:
            cfg = self.profile.backbone(name)
            net = self.backbone(name)
            for side, x in (("original", originals), ("reconstruction", recon)):
                arrays[f"{name}/{side}"] = self._features(net, x, cfg["preprocessing"], cfg["layer"])
        if arrays:
            _save_npz(folder / "features.npz", arrays)
        return out

    def _original(self, record: ImageRecord) -> tuple[np.ndarray, bool]:
        """The autoencoder's input as canonical grayscale in [0, 1], resolution² (see module docstring),
        and whether it had to be resized."""
        pixels = read_image(record.path).pixels
        r = self.settings["resolution"]
        if pixels.shape == (r, r):
            return pixels, False
        if self.settings["resize"] == "none":
            raise InputError(f"{record.path}: image is {pixels.shape[1]}×{pixels.shape[0]} px, not {r}×{r}; resize the "
                             f"images, pass --resolution, or use --resize clean")
        # the resize works on the [0, 255] scale (clean_resize's clip range); the values stay float throughout
        return square(pixels * 255.0, r) / 255.0, True

    def _reconstruct(self, originals: np.ndarray) -> np.ndarray:
        import torch

        channels = self.autoencoder.channels
        out = []
        for start in range(0, len(originals), self.batch_size):
            x = torch.from_numpy(originals[start:start + self.batch_size]).float()[:, None] * 2.0 - 1.0
            y = self.autoencoder.reconstruct(x.repeat(1, channels, 1, 1))
            y = (y.double().clamp(-1.0, 1.0) + 1.0) / 2.0
            if y.shape[1] == 3:
                y = torch.einsum("bchw,c->bhw", y, torch.tensor(LUMA_WEIGHTS, dtype=torch.float64))
            elif y.shape[1] == 1:
                y = y[:, 0]
            else:
                raise InputError(f"autoencoder {self.autoencoder.name} returned {y.shape[1]} channels; expected 1 or 3")
            out.append(y.float().numpy())
        return np.concatenate(out)

    def _features(self, net: Any, images: np.ndarray, preprocessing: str, layer: str) -> np.ndarray:
        """A backbone's features of in-memory canonical images (reconstructions have no file to cache by)."""
        net.check(preprocessing, layer)
        out = []
        for start in range(0, len(images), self.batch_size):
            inputs = [net.preprocess(net.input_image(LoadedImage(img, "in-memory"), preprocessing), preprocessing)
                      for img in images[start:start + self.batch_size]]
            out.append(net.features(inputs, layer))
        return np.concatenate(out).astype(np.float64)

    def _frechet(self, unit: Unit, folder: Path) -> dict[str, Any]:
        from ..functional.frechet import FeatureStats, frechet_distance_from_stats

        stats: dict[str, dict[str, FeatureStats]] = {}
        for chunk in unit.settings["chunks"]:
            path = folder.parent / chunk / "features.npz"
            done = folder.parent / f"{chunk}.json"
            if not done.is_file():
                raise InputError(f"{done}: chunk {chunk} has not finished, so its features are not there yet; "
                                 "re-run the study (it resumes) to compute it before the Fréchet distance")
            if not path.is_file():
                raise InputError(f"{path}: the features of the finished chunk {chunk} are missing; delete "
                                 f"{done} to compute that chunk again")
            with np.load(path) as arrays:
                for name in self.settings["backbones"]:
                    sides = stats.setdefault(name, {})
                    for side in ("original", "reconstruction"):
                        part = FeatureStats.from_features(arrays[f"{name}/{side}"])
                        sides[side] = sides[side].merge(part) if side in sides else part
        return {name: frechet_distance_from_stats(sides["reconstruction"], sides["original"]).as_dict()
                for name, sides in stats.items()}

    # --- summary ------------------------------------------------------------------------------------
    def summarise(self, outputs: dict[str, dict[str, Any]]) -> list[Entry]:
        # run_study hands the outputs in the study's order (chunk order = sorted image order); sorting the
        # unit ids instead would put chunk-10000 before chunk-9999 and pair images with other weights
        chunks = [o for uid, o in outputs.items() if uid != FRECHET_UNIT]

        def gather(key: str) -> np.ndarray:
            return np.concatenate([np.asarray(c[key], np.float64) for c in chunks])

        n = sum(len(c["ids"]) for c in chunks)
        ids = [f"{i}#{k}" for c in chunks for i, k in zip(c["ids"], c["sample_idx"])]
        boot = self._resamples(ids)
        psnr = gather("psnr")
        identical = sum(c["identical"] for c in chunks)
        selection = {"max_images": self.settings["max_images"], "available": len(self.images.records), "used": n,
                     "order": "sorted by (id, sample index)"}
        entries = [
            self._mean_entry("recon_rmse", gather("rmse"), boot, {
                "resolution": self.settings["resolution"], "resize": self.settings["resize"],
                "resized_images": sum(c["resized"] for c in chunks), "selection": selection}),
            self._mean_entry("recon_psnr", psnr, boot, {"cap_db": F.PSNR_CAP_DB, "identical_pairs": identical,
                                                        "capped_pairs": int((psnr >= F.PSNR_CAP_DB).sum())}),
            self._mean_entry("recon_ssim", gather("ssim"), boot, {"window": F.SSIM_WIN, "sigma": F.SSIM_SIGMA,
                                                                  "k": list(F.SSIM_K), "data_range": 1.0}),
        ]
        for name, result in sorted(outputs.get(FRECHET_UNIT, {}).items()):
            cfg = self.profile.backbone(name)
            diagnostics = {k: v for k, v in result.items() if k not in ("value", "warnings")}
            entries.append(self.entry("recon_fd", f"recon_fd[{name}]", result["value"], self.n_requested, n,
                                      {**diagnostics, "preprocessing": cfg["preprocessing"], "layer": cfg["layer"],
                                       "reference": "the originals at the autoencoder's resolution"},
                                      backbone=name, warnings=list(result.get("warnings", []))))
        if self.settings["classifier"]:
            entries += self._classifier_entries(chunks, ids, n, boot)
        if n < self.n_requested:
            short = (f"max_images (--max-images) {self.n_requested} asked for more images than {self.images.root} "
                     f"holds ({n}): all {n} were used")
            for entry in entries:
                entry.warn(short)
        return entries

    def _resamples(self, ids: list[str]) -> Resamples | None:
        from ..cache import key_of

        resamples, seed = int(self.settings["bootstrap"]), int(self.settings["bootstrap_seed"])
        if resamples == 0:
            return None
        return Resamples(resample_weights(len(ids), resamples, seed), seed, key_of(units=ids))

    def _entry(self, metric: str, value: float | None, n: int, details: dict[str, Any], **optional: Any) -> Entry:
        return self.entry(metric, metric, value, self.n_requested, n, details, **optional)

    @staticmethod
    def _with_ci(entry: Entry, replicates: np.ndarray | None, boot: Resamples | None) -> Entry:
        from ..functional.bootstrap import BootstrapResult

        if boot is None or replicates is None or entry.value is None:
            return entry
        result = BootstrapResult(entry.value, percentile_ci(replicates, estimate=entry.value), replicates,
                                 len(boot.weights), boot.seed)
        entry.ci95 = tuple(result.ci95) if result.ci95 else None
        entry.bootstrap = Bootstrap.from_json({**result.as_dict(), "units_sha256": boot.units_sha256,
                                               "method": result.as_dict()["method"].replace("prompt", "image")})
        return entry

    def _mean_entry(self, metric: str, values: np.ndarray, boot: Resamples | None,
                    details: dict[str, Any] | None = None) -> Entry:
        n = len(values)
        summary = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if n > 1 else None,
                   "median": float(np.median(values)), "min": float(values.min()), "max": float(values.max())}
        entry = self._entry(metric, summary["mean"], n, {**summary, **(details or {})}, std=summary["std"])
        return self._with_ci(entry, None if boot is None else boot.weights @ values / n, boot)

    def _classifier_entries(self, chunks: list[dict[str, Any]], ids: list[str], n: int,
                            boot: Resamples | None) -> list[Entry]:
        s = self.settings
        classes = chunks[0]["classes"]
        threshold = float(s["threshold"])
        pred_o = np.concatenate([np.asarray(c["probs_original"]) for c in chunks]) >= threshold
        pred_r = np.concatenate([np.asarray(c["probs_reconstruction"]) for c in chunks]) >= threshold
        cosine = np.concatenate([np.asarray(c["cosine"], np.float64) for c in chunks])
        ones = np.ones((1, n))
        policy = {"threshold": threshold, "rule": "positive when the classifier output ≥ threshold",
                  "classifier": s["classifier"], "preprocessing": s["classifier_preprocessing"]}
        same = (pred_o == pred_r).astype(np.float64)
        agreement = ones @ same / n
        entries = [self._per_class_entry("recon_agreement", classes, agreement[0], n,
                                         None if boot is None else boot.weights @ same / n, boot, policy)]
        if self.labels is None:
            entries[0].warnings = ["no --labels: classifier accuracy and F1 against labels not computed"]
        else:
            label_policy = LabelPolicy.from_config(s["label_policy"])
            usable = [j for j, c in enumerate(classes) if c in self.labels.label_names]
            classes = [classes[j] for j in usable]
            pred_o, pred_r = pred_o[:, usable], pred_r[:, usable]
            ids_only = [i.rsplit("#", 1)[0] for i in ids]
            truth = np.array([[label_policy.apply(self.labels.prompts[i].labels[c]) for c in classes] for i in ids_only])
            prevalence = {c: float(np.nanmean(truth[:, j])) if np.isfinite(truth[:, j]).any() else None
                          for j, c in enumerate(classes)}
            policy = {**policy, "label_policy": label_policy.as_dict(), "prevalence": prevalence}
            for metric, fn in (("recon_accuracy", F.weighted_accuracy), ("recon_f1", F.weighted_f1)):
                original, recon = fn(pred_o, truth, ones)[0], fn(pred_r, truth, ones)[0]
                change = {c: F.percent_change(_finite(original[j]), _finite(recon[j])) for j, c in enumerate(classes)}
                reps_o = None if boot is None else fn(pred_o, truth, boot.weights)
                reps_r = None if boot is None else fn(pred_r, truth, boot.weights)
                extra = {**policy, "original_per_class": {c: _finite(original[j]) for j, c in enumerate(classes)},
                         "original_macro": _nanmean(original), "change_percent_per_class": change,
                         "change_percent_macro": F.percent_change(_nanmean(original), _nanmean(recon)),
                         **_paired_differences(classes, original, recon, reps_o, reps_r)}
                entries.append(self._per_class_entry(metric, classes, recon, n, reps_r, boot, extra))
        summary = {"std": float(cosine.std(ddof=1)) if n > 1 else None, "median": float(np.median(cosine)),
                   "min": float(cosine.min()), "max": float(cosine.max()), "layer": s["embedding_layer"],
                   "classifier": s["classifier"]}
        entry = self._entry("recon_cosine", float(cosine.mean()), n, summary, std=summary["std"])
        entries.append(self._with_ci(entry, None if boot is None else boot.weights @ cosine / n, boot))
        return entries

    def _per_class_entry(self, metric: str, classes: list[str], values: np.ndarray, n: int,
                         replicates: np.ndarray | None, boot: Resamples | None,
                         details: dict[str, Any]) -> Entry:
        per_class = {c: _finite(values[j]) for j, c in enumerate(classes)}
        undefined = sorted(c for c, v in per_class.items() if v is None)
        entry = self._entry(metric, _nanmean(values), n,
                            {"per_class": per_class, "average": "macro over classes where defined",
                             "undefined_classes": undefined, **details},
                            warnings=[f"{metric} undefined for {c}: no positive label or prediction" for c in undefined])
        if replicates is None:
            return entry
        return self._with_ci(entry, _macro(replicates), boot)


def _macro(values: np.ndarray) -> np.ndarray:
    """(B, c) per-class values → (B,) mean over the classes defined in each row (NaN where none is)."""
    finite = np.isfinite(values)
    total = np.where(finite, values, 0.0).sum(axis=1)
    count = finite.sum(axis=1)
    return np.divide(total, count, out=np.full(len(values), np.nan), where=count > 0)


def _paired_differences(classes: list[str], original: np.ndarray, recon: np.ndarray, reps_o: np.ndarray | None,
                        reps_r: np.ndarray | None) -> dict[str, Any]:
    """recon − original per class and macro, each with a paired CI: both sides are read on the same
    resampled images, so the interval is of the difference itself (much narrower than the two CIs side
    by side when the readings agree). The macro is over the classes defined on both sides."""
    def one(a: float, b: float, ra: np.ndarray | None, rb: np.ndarray | None) -> dict[str, Any] | None:
        if not (np.isfinite(a) and np.isfinite(b)):
            return None
        if ra is None or rb is None:
            return {"difference": float(b - a), "ci95": None, "p_value": None}
        paired = paired_difference(float(a), float(b), ra, rb)
        return {"difference": paired.difference, "ci95": list(paired.ci95) if paired.ci95 else None,
                "p_value": paired.p_value, "replicates": paired.replicates}

    both = np.isfinite(original) & np.isfinite(recon)
    per_class = {c: one(original[j], recon[j], None if reps_o is None else reps_o[:, j],
                        None if reps_r is None else reps_r[:, j]) for j, c in enumerate(classes)}
    macro = None
    if both.any():
        def common(reps: np.ndarray | None) -> np.ndarray | None:
            if reps is None:
                return None
            # a replicate's macro over the classes defined on both sides in that replicate: a class that one
            # resample leaves undefined on one side drops out of both
            keep = np.isfinite(reps_o[:, both]) & np.isfinite(reps_r[:, both])
            return _macro(np.where(keep, reps[:, both], np.nan))

        macro = one(float(original[both].mean()), float(recon[both].mean()), common(reps_o), common(reps_r))
    return {"difference_per_class": per_class, "difference_macro": macro,
            "difference": "recon − original (fractions, not %); 95% CI from the paired image bootstrap"}


def _count(value: Any, name: str, low: int) -> int:
    """A whole-number setting of at least ``low``, from a flag, a profile block or the Python API."""
    flag = f"--{name.replace('_', '-')}"
    try:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer, str)):
            raise ValueError
        number = int(value)
    except ValueError:
        raise InputError(f"vae-reconstruction: {name} ({flag}) must be a whole number, not {value!r}") from None
    if number < low:
        raise InputError(f"vae-reconstruction: {name} ({flag}) must be {low} or more, not {number}")
    return number


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _nanmean(values: np.ndarray) -> float | None:
    finite = np.asarray(values, np.float64)[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import io

    buf = io.BytesIO()
    np.savez(buf, **{k: v.astype(np.float32) for k, v in arrays.items()})
    atomic_write_bytes(path, buf.getvalue())


def quick_known_answer(workdir: str | Path, n: int = 64, codecs: tuple[str, ...] = ("codec-down2", "codec-down8",
                                                                                    "codec-shuffle"),
                       size: int = 128, seed: int = 0, bootstrap: int = 200) -> dict[str, dict[str, Any]]:
    """The calibration known answer for the demo: ``n`` phantom radiographs through each codec, scored
    with the phantom evaluator (calibration-phantom profile). Expected: RMSE down2 < down8 < shuffle,
    PSNR and SSIM the other way, agreement and accuracy down2 ≥ down8 > shuffle (near chance)."""
    from ..calibration.dataset import PhantomDataset
    from ..evaluation.context import RunOptions
    from .base import run_study

    workdir = Path(workdir)
    labels = workdir / "phantoms" / "prompts.csv"
    if not labels.is_file():
        dataset = PhantomDataset(workdir / "phantoms")
        dataset.prompts(limit=n, seed=seed, size=size).write(labels)
    out = {}
    for codec in codecs:
        study = VAEReconstruction({"vae": codec, "images": str(workdir / "phantoms" / "images"), "labels": str(labels),
                                   "resolution": size, "backbones": ["phantom-evaluator"], "bootstrap": bootstrap},
                                  "calibration-phantom", RunOptions())
        out[codec] = run_study(study, workdir / codec, model_name=codec)
    return out
