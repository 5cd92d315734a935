"""The memorisation study: does a generator copy its training images?

For every generated image (every sample of every prompt, each matched by its own id), its nearest
training image in each requested space:
- ``pixel``: the canonical grayscale image (`data.images`) as floats in [0, 1], brought to
  pixel_size² by the rule training uses (`functional.resize.square`: shorter side by clean bicubic in
  float, centre crop), distance = RMSE. Never a difference of uint8 arrays, which wraps around
  (5 − 250 = 11 in uint8).
- a registered image encoder (``phantom-evaluator``, ``reid-siamese``, ...): its features, through the
  suite's cached extraction; cosine distance by default.

The threshold τ is the q-quantile of real held-out images' nearest-training distances, so a
generator whose images are as far from the training set as unseen real images has an expected
share of q below τ; the share of generated images at or below τ is reported with a 95% CI (prompts
of the generated set and held-out images resampled together, so τ's own uncertainty is in it), as
share / q, and with the distance distribution. The closest pairs are drawn side by side in
OUT/top-pairs-SPACE.png for a person to look at. One unit per space: a killed run resumes.

Held-out images that are training images (the same file, or at distance 0 in a space) would put τ at
0 and every generator's share at 0, the best score on the board: the study refuses them, naming the
files, unless `drop_held_out_overlap` (--drop-held-out-overlap) drops them from the calibration and
records which.
"""
from __future__ import annotations

import argparse
import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..cache import Cache, key_of
from ..data.images import read_image
from ..data.manifest import ImageRecord, ImageSet
from ..errors import InputError
from ..evaluation.features import default_workers, extract_features
from ..files import atomic_write_bytes
from ..functional.bootstrap import BootstrapResult, percentile_ci, resample_weights
from ..functional.nearest import nearest_neighbours
from ..functional.resize import square
from ..metrics.memorisation import MemorisationSettings
from ..registry import BACKBONES
from ..results.entry import Entry
from .base import Study, Unit

PIXEL = "pixel"
SETTINGS_BLOCK = "memorisation_share"  # the profile's `metrics:` block holding this study's settings
DEFAULTS: dict[str, Any] = MemorisationSettings().to_dict()
DISTANCE_QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
PAIR_SCORE_THRESHOLD = 0.5  # a re-identification net's "same patient" decision
TILE = 128
ROLES = {"train": "training set (--train)", "held_out": "held-out real images (--held-out)",
         "images": "generated images (--images)"}


class MemorisationStudy(Study):
    name = "memorisation"
    version = "2"  # 2: pixels centre-cropped as in training (1 stretched); held-out overlap refused or dropped
    help = ("nearest training image of every generated image (pixels and feature spaces); share closer than a "
            "threshold calibrated on real held-out images")

    def __init__(self, settings: dict[str, Any], profile: Any = "roentgen2022", options: Any = None):
        super().__init__(settings, profile, options)
        # the profile's block, checked and typed when the profile loaded; the run's flags over it
        block = self.profile.settings_for(SETTINGS_BLOCK).to_dict()
        self.settings = {**block, **{k: v for k, v in settings.items() if v is not None}}
        self._check_settings()
        self.cache = Cache()
        self._sets: dict[str, ImageSet] = {}
        self._backbones: dict[str, Any] = {}

    # --- flags and settings ---------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--train", required=True, help="folder of the generator's training images (or with a "
                            "manifest.csv)")
        parser.add_argument("--held-out", required=True, help="folder of real images from the same distribution, "
                            "not in the training set: they calibrate the threshold")
        parser.add_argument("--images", required=True, help="generated images: {prompt_id}_{k}.png files or a "
                            "manifest.csv; every sample is compared")
        parser.add_argument("--spaces", default=PIXEL, help="comma-separated: 'pixel' and/or registered image "
                            "encoders (e.g. pixel,phantom-evaluator,reid-siamese)")
        from ..flags import non_negative_int

        parser.add_argument("--quantile", type=float, help=f"q, the threshold's quantile of held-out distances "
                            f"(default {DEFAULTS['quantile']}, or the profile's metrics.{SETTINGS_BLOCK})")
        parser.add_argument("--pixel-size", type=int, help=f"side of the pixel space (default {DEFAULTS['pixel_size']})")
        parser.add_argument("--bootstrap", type=non_negative_int,
                            help=f"bootstrap resamples for CIs (default {DEFAULTS['bootstrap']}; 0: none)")
        parser.add_argument("--top-pairs", type=non_negative_int,
                            help=f"closest pairs drawn per space (default {DEFAULTS['top_pairs']})")
        parser.add_argument("--drop-held-out-overlap", action="store_true", default=None,
                            help="drop held-out images that are training images (the same file, or at distance 0) "
                                 "from the threshold's calibration, and record them; without it they stop the run")
        parser.add_argument("--weights", action="append", default=[], metavar="NAME=FILE",
                            help="weights file of an encoder (e.g. reid-siamese=reid.safetensors)")

    @classmethod
    def settings_from_args(cls, args: argparse.Namespace) -> dict[str, Any]:
        from ..flags import parse_weights

        return {"train": args.train, "held_out": args.held_out, "images": args.images,
                "spaces": [s.strip() for s in args.spaces.split(",") if s.strip()], "quantile": args.quantile,
                "pixel_size": args.pixel_size, "bootstrap": args.bootstrap, "top_pairs": args.top_pairs,
                "drop_held_out_overlap": args.drop_held_out_overlap, "weights": parse_weights(args.weights)}

    def _check_settings(self) -> None:
        s = self.settings
        for role in ROLES:
            if not s.get(role):
                raise InputError(f"memorisation: the {ROLES[role]} is required")
        if not 0 < float(s["quantile"]) < 1:
            raise InputError(f"memorisation: quantile must lie in (0, 1), got {s['quantile']}")
        if int(s["pixel_size"]) < 4:
            raise InputError(f"memorisation: pixel_size must be at least 4, got {s['pixel_size']}")
        for name in ("bootstrap", "top_pairs"):  # a negative count would silently mean none
            if int(s[name]) < 0:
                raise InputError(f"memorisation: {name} (--{name.replace('_', '-')}) must be 0 or more, not {s[name]}")
        if not isinstance(s["drop_held_out_overlap"], bool):
            raise InputError(f"memorisation: drop_held_out_overlap must be true or false, not "
                             f"{s['drop_held_out_overlap']!r}")
        if s["feature_distance"] not in ("cosine", "euclidean"):
            raise InputError(f"memorisation: feature_distance must be cosine or euclidean, not {s['feature_distance']!r}")
        spaces = list(s.get("spaces") or [PIXEL])
        if len(set(spaces)) != len(spaces):
            raise InputError(f"memorisation: a space is named twice in {spaces}")
        for space in spaces:
            if space != PIXEL and space not in BACKBONES and space not in self.profile.backbones:
                raise InputError(f"memorisation: space {space!r} is neither 'pixel' nor a registered image encoder "
                                 f"({', '.join(BACKBONES.names())}) or one of profile {self.profile.name}'s backbones")
        s["spaces"] = spaces
        s["weights"] = {k: str(v) for k, v in (s.get("weights") or {}).items()}

    # --- inputs -----------------------------------------------------------------------------------
    def image_set(self, role: str) -> ImageSet:
        if role not in self._sets:
            try:
                images = ImageSet.from_folder(self.settings[role])
            except InputError as exc:
                raise InputError(f"{ROLES[role]}: {exc}") from None
            if role == "held_out":
                needed = max(int(self.settings["min_held_out"]), math.ceil(1 / float(self.settings["quantile"])))
                if len(images.records) < needed:
                    raise InputError(
                        f"{ROLES[role]}: {images.root} has {len(images.records)} image(s); calibrating the "
                        f"{self.settings['quantile']}-quantile threshold needs at least {needed}")
            self._sets[role] = images
        return self._sets[role]

    def overlap(self) -> list[tuple[ImageRecord, ImageRecord]]:
        """(held-out, training) pairs of identical files (same sha256)."""
        train = {}
        for record in self.image_set("train").records:
            train.setdefault(record.sha256, record)
        return [(r, train[r.sha256]) for r in self.image_set("held_out").records if r.sha256 in train]

    def records(self, role: str) -> list[ImageRecord]:
        """The images of a role as compared: the held-out ones less those dropped as training files."""
        records = self.image_set(role).records
        if role != "held_out" or not self.settings["drop_held_out_overlap"]:
            return records
        dropped = {id(r) for r, _ in self.overlap()}
        return [r for r in records if id(r) not in dropped]

    def check(self, out: Path) -> None:
        same = self.overlap()
        if same and not self.settings["drop_held_out_overlap"]:
            raise InputError(f"{ROLES['held_out']}: {len(same)} held-out image(s) are training images (identical "
                             f"files), e.g. {_pairs_text(same)}; a threshold calibrated on them is 0 and every "
                             "generator would score 0 (the best). Remove them from the held-out folder, or pass "
                             "--drop-held-out-overlap to drop them from the calibration (recorded)")
        self._check_calibration(len(self.records("held_out")), "after dropping the held-out images that are "
                                                              "training files")

    def _check_calibration(self, n: int, after: str) -> None:
        needed = max(int(self.settings["min_held_out"]), math.ceil(1 / float(self.settings["quantile"])))
        if n < needed:
            raise InputError(f"{ROLES['held_out']}: {n} image(s) left {after}; calibrating the "
                             f"{self.settings['quantile']}-quantile threshold needs at least {needed}")

    def data(self) -> dict[str, Any]:
        out = {role: {"content_sha256": self.image_set(role).content_sha256, "n": len(self.image_set(role).records)}
               for role in ROLES}
        if self.settings["drop_held_out_overlap"]:
            out["held_out"]["identical_to_training"] = len(self.overlap())
        return out

    def units(self) -> list[Unit]:
        return [Unit(space, int(self.settings["seed"]), {"space": space}) for space in self.settings["spaces"]]

    # --- one space --------------------------------------------------------------------------------
    def pixels(self, role: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        return pixel_matrix(self.records(role), int(self.settings["pixel_size"]), self.cache, self.progress, role)

    def features(self, space: str, role: str) -> np.ndarray:
        net, preprocessing, layer = self.encoder(space)
        return extract_features(self.records(role), net, preprocessing, layer, self.cache,
                                self.options.batch_size, self.options.workers, progress=self.progress,
                                desc=f"features {space} ({role})")

    def encoder(self, name: str) -> tuple[Any, str, str]:
        if name not in self._backbones:
            from ..models.image import build_backbone

            cfg = self.profile.backbones.get(name) or {}  # an encoder the profile does not pin: its own defaults
            weights = self.settings["weights"].get(name) or self.options.weights.get(name)
            net = build_backbone(name, cfg, weights=weights, allow_pickle=self.options.allow_pickle,
                                 device=self.options.device)
            self._backbones[name] = (net, cfg.get("preprocessing") or net.preprocessings[0],
                                     cfg.get("layer") or next(iter(net.layers)))
        return self._backbones[name]

    def run_unit(self, unit: Unit, folder: Path) -> dict[str, Any]:
        space = unit.settings["space"]
        out: dict[str, Any] = {"space": space}
        if space == PIXEL:
            loaded = {role: self.pixels(role) for role in ROLES}
            train, held, gen = (loaded[role][0] for role in ROLES)
            out["coercions"] = self.pixel_coercions({role: sizes for role, (_, sizes) in loaded.items()})
        else:
            train, held, gen = (self.features(space, role) for role in ROLES)
            net, preprocessing, layer = self.encoder(space)
            out["encoder"] = {"name": space, "preprocessing": preprocessing, "layer": layer, **net.provenance}
        metric = "euclidean" if space == PIXEL else self.settings["feature_distance"]
        # RMSE: the Euclidean distance over the number of pixels, comparable across pixel sizes
        scale = 1 / math.sqrt(train.shape[1]) if space == PIXEL else 1.0
        search = dict(k=1, metric=metric, query_block=int(self.settings["query_block"]),
                      reference_block=self.settings["reference_block"], device=self.options.device)
        try:
            with self.progress(2, f"nearest training images ({space})", "sets") as bar:
                nn_gen = nearest_neighbours(gen, train, **search)
                bar.update(1)
                nn_held = nearest_neighbours(held, train, **search)
                bar.update(1)
        except ValueError as exc:  # a zero feature vector under the cosine distance
            raise InputError(f"memorisation, space {space}: {exc}") from None
        gen_d, held_d = nn_gen.distances[:, 0] * scale, nn_held.distances[:, 0] * scale
        held_records = self.records("held_out")
        train_records = self.records("train")
        # distance 0: the same image as a training one (re-encoded, renamed): it would put τ at 0 as well
        copies = np.flatnonzero(held_d == 0)
        dropped = [{"held_out": str(held_records[i].path), "training": str(train_records[nn_held.indices[i, 0]].path),
                    "reason": f"distance 0 in space {space}"} for i in copies]
        if dropped and not self.settings["drop_held_out_overlap"]:
            raise InputError(f"{ROLES['held_out']}: {len(dropped)} held-out image(s) are at distance 0 from a training "
                             f"image in space {space}, e.g. "
                             + "; ".join(f"{d['held_out']} = {d['training']}" for d in dropped[:5])
                             + ": the held-out set overlaps the training set, so the threshold would be 0 and every "
                             "generator would score 0 (the best). Remove them, or pass --drop-held-out-overlap")
        kept = np.flatnonzero(held_d > 0)
        if dropped:
            self._check_calibration(len(kept), f"after dropping those at distance 0 in space {space}")
            held, held_d = held[kept], held_d[kept]
            nn_held = type(nn_held)(nn_held.distances[kept], nn_held.indices[kept])
        if self.settings["drop_held_out_overlap"]:  # those dropped before the search, as identical files
            dropped = [{"held_out": str(r.path), "training": str(t.path), "reason": "identical file (sha256)"}
                       for r, t in self.overlap()] + dropped
        out.update({
            "distance": "rmse" if space == PIXEL else metric, "n_train": len(train), "dim": int(train.shape[1]),
            "generated": {"ids": [[r.prompt_id, r.sample_idx] for r in self.image_set("images").records],
                          "distance": gen_d.tolist(), "nearest": nn_gen.indices[:, 0].tolist()},
            "held_out": {"distance": held_d.tolist(), "nearest": nn_held.indices[:, 0].tolist(), "dropped": dropped}})
        net = self.encoder(space)[0] if space != PIXEL else None
        if hasattr(net, "pair_score"):
            # a re-identification net: its same-patient score of each image and its nearest training image
            out["generated"]["pair_score"] = net.pair_score(gen, train[nn_gen.indices[:, 0]]).tolist()
            out["held_out"]["pair_score"] = net.pair_score(held, train[nn_held.indices[:, 0]]).tolist()
        threshold = float(np.quantile(held_d, float(self.settings["quantile"])))
        out["top_pairs"] = self.top_pairs(out, threshold)
        # the study folder (run_study passes OUT/units/ID): where a person looks first
        grid = folder.parent.parent / f"top-pairs-{space}.png"
        atomic_write_bytes(grid, pair_grid(out["top_pairs"], threshold))
        out["grid"] = grid.name
        return out

    def pixel_coercions(self, sizes: dict[str, list[tuple[int, int]]]) -> dict[str, Any]:
        size = int(self.settings["pixel_size"])
        out: dict[str, Any] = {"resized_to": [size, size], "method": PIXEL_RULE,
                               "source_sizes": {role: {f"{w}x{h}": n for (h, w), n in Counter(s).most_common(5)}
                                                for role, s in sizes.items()},
                               "centre_cropped": {role: sum(h != w for h, w in s) for role, s in sizes.items()}}
        train_sizes, gen_sizes = set(sizes["train"]), set(sizes["images"])
        if train_sizes != gen_sizes:
            out["note"] = (f"training and generated images differ in size ({len(train_sizes)} vs {len(gen_sizes)} "
                           f"distinct sizes): every image was brought to {size}x{size} (shorter side, centre crop) "
                           "before comparison")
        return out

    def top_pairs(self, out: dict[str, Any], threshold: float) -> list[dict[str, Any]]:
        gen_records, train_records = self.image_set("images").records, self.image_set("train").records
        train_root = self.image_set("train").root
        distances = np.asarray(out["generated"]["distance"])
        scores = out["generated"].get("pair_score")
        pairs = []
        for i in np.argsort(distances, kind="stable")[: int(self.settings["top_pairs"])]:
            g, t = gen_records[int(i)], train_records[out["generated"]["nearest"][int(i)]]
            pair = {"generated": f"{g.prompt_id}/{g.sample_idx}", "generated_path": str(g.path),
                    "training": str(t.path.relative_to(train_root)), "training_path": str(t.path),
                    "distance": float(distances[i]), "below_threshold": bool(distances[i] <= threshold)}
            if scores is not None:
                pair["pair_score"] = float(scores[int(i)])
            pairs.append(pair)
        return pairs

    # --- units → metric entries -------------------------------------------------------------------
    def summarise(self, outputs: dict[str, dict[str, Any]]) -> list[Entry]:
        entries = []
        for space, o in outputs.items():
            entries.extend(self.space_entries(space, o))
        return entries

    def space_entries(self, space: str, o: dict[str, Any]) -> list[Entry]:
        q = float(self.settings["quantile"])
        gen_d, held_d = np.asarray(o["generated"]["distance"]), np.asarray(o["held_out"]["distance"])
        prompts = [pid for pid, _ in o["generated"]["ids"]]
        units = sorted(set(prompts))
        prompt_of = np.searchsorted(units, prompts)
        stats = share_statistics(gen_d, held_d, prompt_of, len(units), q)
        n_gen = len(gen_d)
        details: dict[str, Any] = {
            "space": space, "distance": o["distance"], "quantile": q, "threshold": stats["threshold"],
            "flagged": int(stats["flagged"]), "held_out_share": stats["held_out_share"],
            "n": {"train": o["n_train"], "held_out": len(held_d), "generated": n_gen, "prompts": len(units)},
            "generated_distance_quantiles": _quantiles(gen_d), "held_out_distance_quantiles": _quantiles(held_d),
            "top_pairs": o["top_pairs"], "grid": o["grid"]}
        for key in ("coercions", "encoder"):
            if key in o:
                details[key] = o[key]
        if "pair_score" in o["generated"]:
            details["pair_score"] = {
                "threshold": PAIR_SCORE_THRESHOLD,
                "generated_share_above": float(np.mean(np.asarray(o["generated"]["pair_score"]) > PAIR_SCORE_THRESHOLD)),
                "held_out_share_above": float(np.mean(np.asarray(o["held_out"]["pair_score"]) > PAIR_SCORE_THRESHOLD))}
        warnings = []
        dropped = o["held_out"].get("dropped", [])
        if dropped:  # only with drop_held_out_overlap: otherwise run_unit refused them
            details["held_out_dropped"] = dropped
            warnings.append(f"{len(dropped)} held-out image(s) are training images and were dropped from the "
                            f"threshold's calibration (--drop-held-out-overlap; listed in details.held_out_dropped)")
        if "note" in o.get("coercions", {}):
            warnings.append(o["coercions"]["note"])
        extra = {"warnings": warnings} if warnings else {}
        boot = self.bootstrap(gen_d, held_d, prompt_of, len(units), q, units)
        values = {"memorisation_share": (stats["share"], boot.get("share"), (0.0, 1.0)),
                  "memorisation_ratio": (stats["share"] / q, boot.get("ratio"), (0.0, None)),
                  "memorisation_distance": (float(np.median(gen_d)), boot.get("median"), (0.0, None))}
        out = []
        for metric, (value, result, value_range) in values.items():
            ci = {}
            if result is not None:
                ci = {"ci95": _clamp(result[0].ci95, value_range),
                      "bootstrap": {**result[0].as_dict(), "units_sha256": result[1]}}
            out.append(self.entry(metric, f"{metric}[{space}]", value, n_gen, n_gen, details, **ci, **extra))
        return out

    def bootstrap(self, gen_d: np.ndarray, held_d: np.ndarray, prompt_of: np.ndarray, n_prompts: int, q: float,
                  units: list[str]) -> dict[str, Any]:
        resamples, seed = int(self.settings["bootstrap"]), int(self.settings["seed"])
        if resamples <= 0:
            return {}
        w_gen = resample_weights(n_prompts, resamples, seed)
        w_held = resample_weights(len(held_d), resamples, seed + 1)  # images, independently of the prompts
        shares, medians = np.empty(resamples), np.empty(resamples)
        with self.progress(resamples, "bootstrap memorisation", "resamples") as bar:
            for b in range(resamples):
                per_image = w_gen[b][prompt_of]
                threshold = np.quantile(np.repeat(held_d, w_held[b]), q)
                shares[b] = per_image @ (gen_d <= threshold) / per_image.sum()
                medians[b] = np.median(np.repeat(gen_d, per_image))
                bar.update(1)
        units_key = key_of(units=units, held_out=len(held_d))

        def result(values: np.ndarray, estimate: float) -> tuple[BootstrapResult, str]:
            return BootstrapResult(estimate, percentile_ci(values, estimate=estimate), values, resamples, seed), units_key

        share = float(np.mean(gen_d <= np.quantile(held_d, q)))
        return {"share": result(shares, share), "ratio": result(shares / q, share / q),
                "median": result(medians, float(np.median(gen_d)))}


def share_statistics(gen_d: np.ndarray, held_d: np.ndarray, prompt_of: np.ndarray, n_prompts: int,
                     q: float) -> dict[str, Any]:
    """The threshold (q-quantile of held-out distances, linear interpolation) and the shares at or below it."""
    threshold = float(np.quantile(held_d, q))
    flagged = gen_d <= threshold
    return {"threshold": threshold, "flagged": int(flagged.sum()), "share": float(flagged.mean()),
            "held_out_share": float(np.mean(held_d <= threshold)),
            "prompts_flagged": int(len(np.unique(prompt_of[flagged])))}


def _quantiles(values: np.ndarray) -> dict[str, float]:
    return {f"{p:g}": float(v) for p, v in zip(DISTANCE_QUANTILES, np.quantile(values, DISTANCE_QUANTILES))}


def _clamp(ci: tuple[float, float] | None, value_range: tuple[float | None, float | None]) -> list[float] | None:
    # re-centring on the estimate can carry an end past what the metric can take (a share above 1)
    if ci is None:
        return None
    lo, hi = value_range
    return [max(ci[0], lo) if lo is not None else ci[0], min(ci[1], hi) if hi is not None else ci[1]]


def _pairs_text(pairs: list[tuple[ImageRecord, ImageRecord]], shown: int = 5) -> str:
    return "; ".join(f"{held.path} = {train.path}" for held, train in pairs[:shown]) + (
        f" (and {len(pairs) - shown} more)" if len(pairs) > shown else "")


# --- pixel space ----------------------------------------------------------------------------------

PIXELS_NAMESPACE = "pixels"
PIXEL_RULE = "shorter side to the size (clean bicubic on float pixels), centre crop"


def pixel_vector(path: Path, size: int) -> np.ndarray:
    """The canonical grayscale image as float32 in [0, 1], brought to size² by the training rule (shorter
    side, centre crop: a generator that copies reproduces the crop it was trained on, which stretching
    would distort), flattened, followed by its source height and width (so the cached row also records
    the coercion)."""
    pixels = read_image(path).pixels
    small = square(pixels * 255.0, size) / 255.0 if pixels.shape != (size, size) else pixels
    return np.concatenate([small.ravel(), np.array(pixels.shape, np.float32)]).astype(np.float32)


def pixel_matrix(records: list[ImageRecord], size: int, cache: Cache, progress: Callable[..., Any],
                 what: str = "") -> tuple[np.ndarray, list[tuple[int, int]]]:
    """(n, size²) float32 pixel vectors of ``records`` and each image's source (height, width); rows
    are cached by image content like features."""
    key = key_of(kind="pixels", version=2, size=size, resize=PIXEL_RULE, source="canonical-grayscale")
    rows = cache.get_rows(PIXELS_NAMESPACE, key, [r.sha256 for r in records], (size * size + 2,))
    todo = [i for i, row in enumerate(rows) if row is None]
    with progress(len(records), f"pixels {size}x{size}" + (f" ({what})" if what else ""), "images",
                  initial=len(records) - len(todo)) as bar:
        with ThreadPoolExecutor(max_workers=default_workers()) as pool:
            for start in range(0, len(todo), 256):
                chunk = todo[start:start + 256]
                fresh = list(pool.map(lambda j: pixel_vector(records[j].path, size), chunk))
                for i, row in zip(chunk, fresh):
                    rows[i] = row
                cache.put_rows(PIXELS_NAMESPACE, key, [(records[i].sha256, row) for i, row in zip(chunk, fresh)])
                bar.update(len(chunk))
    matrix = np.stack(rows)  # type: ignore[arg-type]
    return matrix[:, :-2], [(int(h), int(w)) for h, w in matrix[:, -2:]]


# --- the side-by-side grid --------------------------------------------------------------------------

def _tile(path: str) -> np.ndarray:
    pixels = read_image(path).pixels
    return square(pixels * 255.0, TILE)  # the crop that was compared, not a squeezed whole image


def pair_grid(pairs: list[dict[str, Any]], threshold: float, per_row: int = 4) -> bytes:
    """PNG bytes: each pair as generated | nearest training, captioned with its distance; pairs at or
    below the threshold framed in red."""
    import io

    from PIL import Image, ImageDraw

    caption, gap = 30, 8
    cell_w, cell_h = 2 * TILE + gap, TILE + caption + gap
    n = max(1, len(pairs))
    rows, cols = math.ceil(n / per_row), min(per_row, n)
    canvas = Image.new("RGB", (cols * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(canvas)
    if not pairs:
        draw.text((4, 4), "no generated images", fill="black")
    for j, pair in enumerate(pairs):
        x, y = (j % per_row) * cell_w, (j // per_row) * cell_h
        for k, path in enumerate((pair["generated_path"], pair["training_path"])):
            tile = Image.fromarray(np.clip(np.rint(_tile(path)), 0, 255).astype(np.uint8)).convert("RGB")
            canvas.paste(tile, (x + k * TILE, y))
        if pair["below_threshold"]:
            draw.rectangle([x, y, x + 2 * TILE - 1, y + TILE - 1], outline=(220, 0, 0), width=3)
        score = f" s={pair['pair_score']:.2f}" if "pair_score" in pair else ""
        draw.text((x + 2, y + TILE + 2), f"{pair['generated']} | {pair['training']}"[:42], fill="black")
        draw.text((x + 2, y + TILE + 15), f"d={pair['distance']:.4g} (t={threshold:.4g}){score}", fill="black")
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


# --- the known answer, for the demo -----------------------------------------------------------------

def quick_known_answer(workdir: str | Path, progress: bool = False, spaces: tuple[str, ...] = (PIXEL, "phantom-evaluator"),
                       n_train: int = 200, n_held_out: int = 100, n_prompts: int = 40,
                       samples: int = 2) -> dict[str, dict[str, Any]]:
    """Phantom training and held-out sets, then the study on phantom-faithful (a generator that does not
    copy: its share should be near q) and phantom-copies-training (near-copies of training images: share
    near 1), under the calibration profile. Returns {stand-in: results object}."""
    from ..calibration.dataset import PhantomDataset
    from ..data.manifest import PromptSet
    from ..evaluation.context import RunOptions
    from ..generation.harness import run_generation
    from ..generation.protocol import GenerationSettings
    from ..registry import (
        GENERATORS,  # the stand-ins are plug-ins: reached through the registry
    )
    from .base import run_study

    workdir = Path(workdir)
    size = 128  # the phantom evaluator's input size: larger phantoms only cost rendering time
    for name, n, seed in (("train", n_train, 11), ("held-out", n_held_out, 12)):
        PhantomDataset(workdir / name).prompts(limit=n, seed=seed, size=size).write(workdir / name / "prompts.csv")
    prompts = PromptSet.from_csv(PhantomDataset().prompts(limit=n_prompts, seed=13).write(workdir / "prompts.csv"))
    settings = GenerationSettings(resolution=size, samples_per_prompt=samples, batch_size=16, seed=0)
    standins = {"phantom-faithful": GENERATORS.get("phantom-faithful")(settings=settings),
                "phantom-copies-training": GENERATORS.get("phantom-copies-training")(str(workdir / "train" / "images"),
                                                                                     settings)}
    results = {}
    for name, generator in standins.items():
        run_generation(generator, prompts, workdir / name, settings, progress=progress)
        study = MemorisationStudy({"train": str(workdir / "train" / "images"),
                                   "held_out": str(workdir / "held-out" / "images"),
                                   "images": str(workdir / name), "spaces": list(spaces), "bootstrap": 200},
                                  "calibration-phantom", RunOptions(progress=progress))
        study.cache = Cache(workdir / "cache")
        results[name] = run_study(study, workdir / f"memorisation-{name}", model_name=name)
    return results
