"""The evaluation context every metric receives: the subject, the profile, run options, the models
(loaded lazily) and the cached providers metrics draw their inputs from.

Providers, each cached by content (`cache.py`: inputs × model weights sha256 × preprocessing ×
settings), each showing progress when the run asks for it:
- `image_features` / `image_stats`: a backbone's features of images / their float64 statistics;
- `text_embeddings`: a text encoder's document embeddings of texts (and how many were truncated);
- `generated_reports`: a report generator's impression of each image;
- `labels`: a labeller's CheXpert labels of texts;
- `memo`: any value a metric derives from those (a Fréchet distance, per-prompt MS-SSIM, ...).
Metrics never touch the cache or load models themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import numpy as np

from ..cache import Cache, key_of, text_sha256
from ..data.manifest import ImageRecord
from ..errors import CxrgenError, InputError, ModelUnavailable
from ..functional.frechet import FeatureStats
from ..profiles import Profile
from ..progress import ProgressFactory, factory
from .requests import FeatureRequest, stats_key
from .subjects import ImageSetSubject, Subject

T = TypeVar("T")


@dataclass
class RunOptions:
    """How a run is executed; none of these change a number (they are recorded, not keyed)."""

    weights: dict[str, str] = field(default_factory=dict)  # backbone → weights file
    allow_pickle: bool = False
    device: str = "cpu"
    batch_size: int = 32
    workers: int | None = None
    strict: bool = False
    bootstrap: int = 0  # resamples for 95% CIs (0: none)
    bootstrap_seed: int = 0
    progress: bool = False
    log: Callable[[str], None] = lambda msg: None
    # how the inputs were read (layout, subset, allow_outside_paths), recorded in run.settings
    settings: dict[str, Any] = field(default_factory=dict)
    by: tuple[str, ...] = ()  # attributes of the prompts to compute every metric per group of (--by)


class EvaluationContext:
    def __init__(self, subject: Subject, profile: Profile, cache: Cache, options: RunOptions | None = None):
        self.subject = subject
        self.profile = profile
        self.cache = cache
        self.options = options or RunOptions()
        self.progress: ProgressFactory = factory(self.options.progress)
        self._backbones: dict[str, Any] = {}
        # backbones that failed to load (missing weights, ...): name → what was said, once
        self.unavailable: dict[str, dict[str, Any]] = {}
        self._other_models: dict[str, Any] = dict(subject.models())  # text encoders, report generators, labellers
        self._shared: dict[tuple[str, str], Any] = {}  # see shared_model
        self._matrices: dict[str, Any] = {}  # large sets' feature matrices, written once per run (features.py)
        # files a metric leaves beside the results (name suffix → text), e.g. the generated reports as CSV
        self.artifacts: dict[str, str] = {}

    def for_subject(self, subject: Subject) -> "EvaluationContext":
        """The same run (models, cache, options) on another subject, e.g. one group of patients' images; quiet,
        and what it loads stays shared."""
        from dataclasses import replace

        other = EvaluationContext(subject, self.profile, self.cache, replace(self.options, progress=False))
        other._backbones, other._shared, other.unavailable = self._backbones, self._shared, self.unavailable
        other._matrices = self._matrices
        other._other_models = self._other_models
        return other

    # --- run options metrics read ---------------------------------------------------------------
    @property
    def bootstrap(self) -> int:
        return self.options.bootstrap

    @property
    def bootstrap_seed(self) -> int:
        return self.options.bootstrap_seed

    @property
    def strict(self) -> bool:
        return self.options.strict

    def log(self, msg: str) -> None:
        self.options.log(msg)

    @property
    def image_subject(self) -> ImageSetSubject:
        if not isinstance(self.subject, ImageSetSubject):
            raise InputError(f"this metric needs an image set; the run evaluates {self.subject.summary()}")
        return self.subject

    # --- models --------------------------------------------------------------------------------
    def backbone(self, name: str) -> Any:
        """The backbone, built once per run. One that cannot be built (no weights here, a file that does not
        fit) is said once, in full, and every later metric that needs it fails at once with a short
        `ModelUnavailable` instead of looking for the files (or the network) again."""
        if name in self.unavailable:
            raise self.unavailable[name]["error"]
        if name not in self._backbones:
            from ..models.image import build_backbone

            self.log(f"loading backbone {name}")
            try:
                self._backbones[name] = build_backbone(name, self.profile.backbone(name),
                                                       weights=self.options.weights.get(name),
                                                       allow_pickle=self.options.allow_pickle, device=self.options.device)
            except CxrgenError as exc:
                self.log(f"backbone {name} is unavailable in this run:\n{exc}")
                short = ModelUnavailable(name, exc)
                self.unavailable[name] = {"error": short, "message": str(exc),
                                          "accepted": list(getattr(exc, "accepted", ()))}
                raise short from None
        return self._backbones[name]

    def use_model(self, role: str, model: Any) -> Any:
        """Record a non-image model (text encoder, report generator, labeller) for the results' provenance."""
        self._other_models[role] = model
        return model

    def shared_model(self, role: str, build: Callable[[], Any], **settings: Any) -> Any:
        """The model of `role` and `settings`, built on first use and reused by every metric of the run
        (CheXbert, Stanza, BERTScore or a text tower serve several scorers), recorded like `use_model`."""
        key = (role, key_of(**settings))
        if key not in self._shared:
            self._shared[key] = self.use_model(role, build())
        return self._shared[key]

    def models_used(self) -> dict[str, Any]:
        # how each backbone read files with transparent pixels goes beside its weights: it changes its numbers
        used = {name: {**b.provenance, "alpha": b.alpha} for name, b in sorted(self._backbones.items())}
        used.update({role: m.describe() for role, m in sorted(self._other_models.items())})
        return used

    # --- image providers -----------------------------------------------------------------------
    def extractor(self, backbone: str, preprocessing: str, layer: str) -> Any:
        from .features import Extractor

        return Extractor(self.backbone(backbone), preprocessing, layer)

    def image_features(self, records: list[ImageRecord], backbone: str, preprocessing: str, layer: str,
                       what: str = "") -> np.ndarray:
        from .features import extract_features

        net = self.backbone(backbone)
        desc = f"features {backbone}/{layer}" + (f" ({what})" if what else "")
        return extract_features(records, net, preprocessing, layer, self.cache, self.options.batch_size,
                                self.options.workers, progress=self.progress, desc=desc, matrices=self._matrices)

    def image_stats(self, records: list[ImageRecord], backbone: str, preprocessing: str, layer: str,
                    what: str = "") -> tuple[FeatureStats, str]:
        """Statistics of a set of images and their key, cached by the set's content (so reference
        statistics are computed once). They stream from the feature cache STREAM_ROWS rows at a time:
        memory is bounded by that, not by the set."""
        from .features import compute, missing, stream_rows

        ext = self.extractor(backbone, preprocessing, layer)
        key = stats_key(ext, records)
        cached = self.cache.get_arrays("stats", key)
        if cached is not None:
            return FeatureStats.from_arrays(cached), key
        if not self.cache.enabled:  # no rows to stream from: the features, in memory
            stats = FeatureStats.from_features(self.image_features(records, backbone, preprocessing, layer, what))
            return stats, key
        todo = missing(records, ext, self.cache)
        if todo:
            compute([(ext, todo)], self.cache, self.options.batch_size, self.options.workers, self.progress,
                    f"features {backbone}/{layer}" + (f" ({what})" if what else ""))
        stats = FeatureStats.empty(ext.shape[0]) if ext.shape else None
        for chunk in stream_rows(records, ext, self.cache):
            stats = FeatureStats.from_features(chunk) if stats is None else stats.update(chunk)
        if stats is None:
            raise InputError(f"no images to compute {backbone} statistics of ({what or 'empty set'})")
        self.cache.put_arrays("stats", key, stats.to_arrays())
        return stats, key

    def prefetch(self, requests: list[FeatureRequest]) -> None:
        """Compute, before the metrics run, the features (and statistics) they declared they will read:
        each image decoded once for every backbone; under torchrun each process does its share and the
        cache and statistics reach rank 0 (`evaluation.sharding`). Backbones that cannot be built are left
        to the metrics that need them, which record why."""
        from .sharding import prefetch

        prefetch(self, requests)

    # --- text providers ------------------------------------------------------------------------
    def text_embeddings(self, texts: list[str], encoder: Any, extraction: str) -> tuple[Any, int]:
        """(len(texts), d) embeddings and how many texts the encoder had to truncate. Each distinct text
        is embedded once, so duplicate reports get bit-identical vectors (and tie exactly)."""
        distinct = list(dict.fromkeys(texts))
        where = {t: i for i, t in enumerate(distinct)}
        order = np.array([where[t] for t in texts], dtype=np.int64)
        if not encoder.cacheable:  # e.g. a bag of words over this corpus's vocabulary
            with self.progress(1, f"embeddings {encoder.name}/{extraction}", "sets"):
                vectors, truncated = encoder.embed(distinct, extraction)
            return vectors[order], int(np.asarray(truncated, dtype=bool)[order].sum())
        key = encoder.embedding_key(extraction)
        shas = [text_sha256(t) for t in distinct]
        rows = self.cache.get_rows("text-embeddings", key, shas)
        todo = [i for i, row in enumerate(rows) if row is None]
        with self.progress(len(distinct), f"embeddings {encoder.name}/{extraction}", "texts",
                           initial=len(distinct) - len(todo)) as bar:
            for start in range(0, len(todo), 256):
                chunk = todo[start:start + 256]
                vectors, truncated = encoder.embed([distinct[i] for i in chunk], extraction)
                for i, vec, cut in zip(chunk, vectors, truncated):
                    # the truncation flag rides along as the row's last element, so one row holds both
                    rows[i] = np.append(vec.astype(np.float32), np.float32(cut))
                self.cache.put_rows("text-embeddings", key, [(shas[i], rows[i]) for i in chunk])
                bar.update(len(chunk))
        matrix = np.stack(rows)[order]  # type: ignore[arg-type]
        return matrix[:, :-1].astype(np.float32), int(matrix[:, -1].sum())

    def generated_reports(self, records: list[ImageRecord], generator: Any) -> list[str]:
        from ..data.images import read_image

        key = generator.report_key()
        reports: list[str | None] = [(self.cache.get_json("reports", key_of(model=key, inputs=r.sha256)) or {}).get("text")
                                     for r in records]
        todo = [i for i, text in enumerate(reports) if text is None]
        batch = max(1, self.options.batch_size)
        with self.progress(len(records), f"reports {generator.name}", "images",
                           initial=len(records) - len(todo)) as bar:
            for start in range(0, len(todo), batch):
                chunk = todo[start:start + batch]
                texts = generator.generate([read_image(records[i].path).pixels for i in chunk])
                for i, text in zip(chunk, texts):
                    reports[i] = text
                    self.cache.put_json("reports", key_of(model=key, inputs=records[i].sha256), {"text": text})
                bar.update(len(chunk))  # a crash loses at most this batch: the rest is cached
        return reports  # type: ignore[return-value]

    def labels(self, texts: list[str], labeller: Any) -> np.ndarray:
        """(len(texts), 14) CheXpert labels: 1, 0, −1, NaN (not mentioned)."""
        key = labeller.labels_key()
        shas = [text_sha256(t) for t in texts]
        rows = self.cache.get_rows("labels", key, shas, (len(labeller.classes),))
        todo = [i for i, row in enumerate(rows) if row is None]
        if todo:
            fresh = labeller.label([texts[i] for i in todo])
            for i, row in zip(todo, fresh):
                rows[i] = row
            self.cache.put_rows("labels", key, [(shas[i], rows[i]) for i in todo])
        return np.stack(rows) if rows else np.zeros((0, len(labeller.classes)), np.float32)  # type: ignore[arg-type]

    # --- derived values ------------------------------------------------------------------------
    def memo_json(self, namespace: str, compute: Callable[[], T], **key_parts: Any) -> T:
        """A JSON-able value derived from cached inputs, itself cached under a key of ``key_parts``."""
        return self._memo(self.cache.get_json, self.cache.put_json, namespace, compute, key_parts)

    def memo_arrays(self, namespace: str, compute: Callable[[], dict[str, np.ndarray]],
                    **key_parts: Any) -> dict[str, np.ndarray]:
        """`memo_json` for a mapping of arrays."""
        return self._memo(self.cache.get_arrays, self.cache.put_arrays, namespace, compute, key_parts)

    @staticmethod
    def _memo(get: Callable[[str, str], Any], put: Callable[[str, str, Any], None], namespace: str,
              compute: Callable[[], Any], key_parts: dict[str, Any]) -> Any:
        key = key_of(**key_parts)
        cached = get(namespace, key)
        if cached is None:
            cached = compute()
            put(namespace, key, cached)
        return cached
