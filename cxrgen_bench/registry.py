"""One registry type for every kind of plug-in: metrics, the models by modality (backbones = image
encoders, text encoders, report generators, labellers), generators, datasets, profiles, trainers and
studies.

Targets are stored as objects or as lazy ``"module:attr"`` strings, so listing the registry imports
nothing heavy. Third-party packages add entries through entry-point groups named
``cxrgen_bench.<kind>`` (e.g. ``cxrgen_bench.metrics``); a name registered twice, from anywhere,
is an error rather than a silent override.
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Callable, Generic, Iterator, TypeVar

from .card import Card, base_of
from .errors import InputError, RegistryError

T = TypeVar("T")


def import_target(spec: str) -> Any:
    """Resolve ``"package.module:attr.sub"`` to the object it names."""
    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise RegistryError(f"target {spec!r} is not of the form 'module:attr'")
    obj = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Unique names → lazily imported targets, plus entry points of ``group``."""

    def __init__(self, kind: str, check: Callable[[str, Any], None] | None = None):
        self.kind = kind
        self.check = check  # validates a resolved target (e.g. a metric has a card of its own name)
        self.group = f"cxrgen_bench.{kind}"
        self._targets: dict[str, Any] = {}
        self._sources: dict[str, str] = {}
        self._entry_points_loaded = False
        self._entry_point_error: RegistryError | None = None  # raised again on every use, never half-loaded

    def register(self, name: str, target: Any = None, *, source: str = "built-in") -> Any:
        """Register ``target`` under ``name``; without a target, act as a class decorator."""
        if target is None:
            def decorator(obj: Any) -> Any:
                self._add(name, obj, source)
                return obj
            return decorator
        self._add(name, target, source)
        return target

    def _add(self, name: str, target: Any, source: str) -> None:
        if not name or name != name.strip():
            raise RegistryError(f"invalid {self.kind} name {name!r}")
        if name in self._targets:
            raise RegistryError(
                f"{self.kind} {name!r} is registered twice: by {self._sources[name]} and by {source}. "
                "Rename one of them.")
        self._targets[name] = target
        self._sources[name] = source

    def _load_entry_points(self) -> None:
        if self._entry_point_error is not None:
            raise self._entry_point_error
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        try:
            for ep in entry_points(group=self.group):
                dist = getattr(ep, "dist", None)
                self._add(ep.name, ep.value, f"entry point of {dist.name if dist else '?'}")
        except RegistryError as exc:
            self._entry_point_error = exc
            raise

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._targets)

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        self._load_entry_points()
        if name not in self._targets:
            known = ", ".join(self.names()) or "none"
            raise RegistryError(f"unknown {self.kind} {name!r}; registered: {known}")
        target = self._targets[name]
        source = self._sources[name]
        if isinstance(target, str):
            # A third party's module may fail on import in any way (a card missing a field raises
            # while the class is defined): name the plug-in instead of showing a traceback.
            catch = (ImportError, AttributeError) if source == "built-in" else (Exception,)
            try:
                target = import_target(target)
            except RegistryError as exc:
                raise RegistryError(f"{self.kind} {name!r} ({source}): {exc}") from exc
            except catch as exc:
                raise RegistryError(
                    f"{self.kind} {name!r} ({source}) points to {self._targets[name]!r}, "
                    f"which cannot be imported: {type(exc).__name__}: {exc}") from exc
        if self.check is not None:
            try:
                self.check(name, target)
            except RegistryError as exc:
                raise RegistryError(f"{self.kind} {name!r} ({source}): {exc}") from None
        self._targets[name] = target
        return target

    def source(self, name: str) -> str:
        self._load_entry_points()
        return self._sources[name]


def _check_metric(name: str, target: Any) -> None:
    card = getattr(target, "card", None)
    if not isinstance(card, Card):
        raise RegistryError(f"{getattr(target, '__name__', target)!r} has no metric card (a `card = Card(...)` "
                            "class attribute, see cxrgen_bench/card.py)")
    if card.name != name:
        raise RegistryError(f"is registered as {name!r} but its card is named {card.name!r}")


METRICS: Registry = Registry("metrics", check=_check_metric)
BACKBONES: Registry = Registry("backbones")  # image encoders
TEXT_ENCODERS: Registry = Registry("text_encoders")
REPORT_GENERATORS: Registry = Registry("report_generators")
LABELLERS: Registry = Registry("labellers")
GENERATORS: Registry = Registry("generators")
DATASETS: Registry = Registry("datasets")
PROFILES: Registry[Callable[[], Any]] = Registry("profiles")
TRAINERS: Registry = Registry("trainers")
STUDIES: Registry = Registry("studies")
AUTOENCODERS: Registry = Registry("autoencoders")  # image VAEs (encode → decode), e.g. a diffusers pipeline's

REGISTRIES: dict[str, Registry] = {r.kind: r for r in (
    METRICS, BACKBONES, TEXT_ENCODERS, REPORT_GENERATORS, LABELLERS, GENERATORS, DATASETS, PROFILES, TRAINERS,
    STUDIES, AUTOENCODERS)}


# Strings, not imports: listing plug-ins must stay cheap (no torch import for `cxrgen-bench ls`). One table per
# kind; the metric modules group their keys by what they measure.
BUILTINS: dict[str, dict[str, str]] = {
    # fidelity, diversity, factual correctness, retrieval, text knowledge, demographics; study cards; the reader study's
    "metrics": {
        "adherence": "cxrgen_bench.metrics.adherence:DemographicAdherence",
        "alignment": "cxrgen_bench.metrics.alignment:ImageTextAlignment",
        "augmentation_accuracy": "cxrgen_bench.metrics.augmentation:AugmentationAccuracy",
        "augmentation_auroc": "cxrgen_bench.metrics.augmentation:AugmentationAUROC",
        "augmentation_auroc_gain": "cxrgen_bench.metrics.augmentation:AugmentationGain",
        "augmentation_underdiagnosis_gap": "cxrgen_bench.metrics.augmentation:AugmentationUnderdiagnosisGap",
        "augmentation_underdiagnosis_gap_change": "cxrgen_bench.metrics.augmentation:AugmentationUnderdiagnosisGapChange",
        "chexpert_at_k": "cxrgen_bench.metrics.chexpert_at_k:CheXpertAtK",
        "classifier_auroc": "cxrgen_bench.metrics.classifier_auroc:ClassifierAUROC",
        "cmmd": "cxrgen_bench.metrics.cmmd:CMMD",
        "fd_infinity": "cxrgen_bench.metrics.fd_infinity:FrechetInfinity",
        "fid": "cxrgen_bench.metrics.fid:FrechetDistance",
        "frd": "cxrgen_bench.metrics.frd:FrechetRadiomicsDistance",
        "i2t_factual": "cxrgen_bench.metrics.i2t_factual:TopImpressionFactual",
        "inception_score": "cxrgen_bench.metrics.inception_score:InceptionScore",
        "kid": "cxrgen_bench.metrics.kid:KernelInceptionDistance",
        "laterality": "cxrgen_bench.metrics.laterality:LateralityAdherence",
        "memorisation_distance": "cxrgen_bench.metrics.memorisation:MemorisationDistance",
        "memorisation_ratio": "cxrgen_bench.metrics.memorisation:MemorisationRatio",
        "memorisation_share": "cxrgen_bench.metrics.memorisation:MemorisationShare",
        "ms_ssim": "cxrgen_bench.metrics.ms_ssim:IntraPromptMSSSIM",
        "prdc_coverage": "cxrgen_bench.metrics.prdc:PRDCCoverage",
        "prdc_density": "cxrgen_bench.metrics.prdc:PRDCDensity",
        "prdc_precision": "cxrgen_bench.metrics.prdc:PRDCPrecision",
        "prdc_recall": "cxrgen_bench.metrics.prdc:PRDCRecall",
        "radcliq": "cxrgen_bench.metrics.radcliq:RadCliQ",
        "ratescore": "cxrgen_bench.metrics.ratescore:RaTEScore",
        "reader_alignment": "cxrgen_bench.metrics.reader:ReaderAlignment",
        "reader_alpha": "cxrgen_bench.metrics.reader:ReaderAlpha",
        "reader_kappa": "cxrgen_bench.metrics.reader:ReaderKappa",
        "reader_lean_real": "cxrgen_bench.metrics.reader:ReaderLeanReal",
        "reader_realism": "cxrgen_bench.metrics.reader:ReaderRealism",
        "recon_accuracy": "cxrgen_bench.metrics.reconstruction:ReconAccuracy",
        "recon_agreement": "cxrgen_bench.metrics.reconstruction:ReconAgreement",
        "recon_cosine": "cxrgen_bench.metrics.reconstruction:ReconCosine",
        "recon_f1": "cxrgen_bench.metrics.reconstruction:ReconF1",
        "recon_fd": "cxrgen_bench.metrics.reconstruction:ReconFD",
        "recon_psnr": "cxrgen_bench.metrics.reconstruction:ReconPSNR",
        "recon_rmse": "cxrgen_bench.metrics.reconstruction:ReconRMSE",
        "recon_ssim": "cxrgen_bench.metrics.reconstruction:ReconSSIM",
        "reid": "cxrgen_bench.metrics.reidentification:ReIdentification",
        "i2i_precision": "cxrgen_bench.metrics.retrieval:ImageToImagePrecision",
        "i2t_precision": "cxrgen_bench.metrics.retrieval:ImageToTextPrecision",
        "rrg": "cxrgen_bench.metrics.rrg:ReportGeneration",
    },
    # units of training work (RoentGen Table 5, seeds/001 Table 1, memorisation)
    "studies": {
        "augmentation": "cxrgen_bench.studies.augmentation:AugmentationStudy",
        "memorisation": "cxrgen_bench.studies.memorisation:MemorisationStudy",
        "vae-reconstruction": "cxrgen_bench.studies.reconstruction:VAEReconstruction",
    },
    # image encoders; `open-clip` and `transformers` are generic (a profile names one with `kind:`)
    "backbones": {
        "inception-v3-fid": "cxrgen_bench.models.image.inception_tf:InceptionV3FID",
        "xrv-densenet121": "cxrgen_bench.models.image.xrv_densenet:XRVDenseNet121",
        "clip-vit-b-32": "cxrgen_bench.models.image_text.clip_vit:CLIPViTB32",
        "cxr-repair": "cxrgen_bench.models.image_text.cxr_repair:CXRRePaiR",
        "convirt-resnet50": "cxrgen_bench.models.image.convirt:ConVIRTResNet50",
        "open-clip": "cxrgen_bench.models.image_text.open_clip:OpenCLIPImage",
        "transformers": "cxrgen_bench.models.image_text.transformers:TransformersVision",
        "phantom-evaluator": "cxrgen_bench.calibration.evaluator:PhantomEvaluator",
        "reid-siamese": "cxrgen_bench.models.image.reid_siamese:ReIDSiamese",
        "pyradiomics": "cxrgen_bench.models.image.radiomics:PyRadiomics",
        "biovil-t": "cxrgen_bench.models.image_text.biovil_t:BioViLT",
        "mira-sex": "cxrgen_bench.models.image.attributes:MiraSex",
        "xrv-race": "cxrgen_bench.models.image.attributes:XRVRace",
        "riken-age": "cxrgen_bench.models.image.attributes:RikenAge",
        "phantom-attributes": "cxrgen_bench.calibration.attributes:PhantomAttributes",
    },
    # CheXpert@k's subjects
    "text_encoders": {
        "transformers": "cxrgen_bench.models.text.hf:TransformersEncoder",
        "diffusers": "cxrgen_bench.models.text.hf:DiffusersTextEncoder",
        "open-clip": "cxrgen_bench.models.text.open_clip_text:OpenCLIPText",
        "bow": "cxrgen_bench.models.text.bag_of_words:BagOfWords",
        "phantom-reader": "cxrgen_bench.calibration.text_encoders:PhantomReader",
        "phantom-reader-shuffled": "cxrgen_bench.calibration.text_encoders:ShuffledReader",
        "random-hash": "cxrgen_bench.calibration.text_encoders:RandomHash",
    },
    # image → impression (rrg)
    "report_generators": {
        "callable": "cxrgen_bench.models.report.callable:CallableReportGenerator",
        "transformers": "cxrgen_bench.models.report.transformers_rrg:TransformersReportGenerator",
        "phantom-reader": "cxrgen_bench.calibration.report_generator:PhantomReportGenerator",
    },
    # report → CheXpert labels
    "labellers": {
        "rule-based": "cxrgen_bench.models.labellers.rule_based:RuleBasedLabeller",
        "chexbert": "cxrgen_bench.models.labellers.chexbert:CheXbertLabeller",
    },
    # image VAEs (encode → decode), e.g. a diffusers pipeline's
    "autoencoders": {
        "diffusers": "cxrgen_bench.models.autoencoders:DiffusersAutoencoder",
        "codec-down2": "cxrgen_bench.calibration.codecs:Down2",
        "codec-down8": "cxrgen_bench.calibration.codecs:Down8",
        "codec-shuffle": "cxrgen_bench.calibration.codecs:ShuffleCodec",
    },
    # text-to-image plug-ins of the harness, and the calibration stand-ins of known quality
    "generators": {
        "diffusers": "cxrgen_bench.generators.diffusers_pipeline:DiffusersGenerator",
        "folder": "cxrgen_bench.generators.folder:FolderGenerator",
        "real": "cxrgen_bench.generators.real:RealImages",
        "callable": "cxrgen_bench.generators.callable:CallableGenerator",
        "textual-projection": "cxrgen_bench.generators.textual_projection:TextualProjectionGenerator",
        "phantom-faithful": "cxrgen_bench.generators.phantom:PhantomGenerator",
        "phantom-ignores-prompt": "cxrgen_bench.generators.phantom:IgnoresPrompt",
        "phantom-flips-laterality": "cxrgen_bench.generators.phantom:FlipsLaterality",
        "phantom-mode-collapse": "cxrgen_bench.generators.phantom:ModeCollapse",
        "phantom-degraded": "cxrgen_bench.generators.phantom:Degraded",
        "phantom-fails-effusion": "cxrgen_bench.generators.phantom:FailsEffusion",
        "phantom-copies-training": "cxrgen_bench.generators.phantom:CopiesTraining",
        "phantom-ignores-demographics": "cxrgen_bench.generators.phantom:IgnoresDemographics",
        "phantom-underserves-female": "cxrgen_bench.generators.phantom:UnderservesFemale",
    },
    # prompt sets and their images
    "datasets": {
        "phantom": "cxrgen_bench.calibration.dataset:PhantomDataset",
        "mimic-cxr": "cxrgen_bench.data.datasets.mimic:MimicCXR",
        "openi": "cxrgen_bench.data.datasets.openi:OpenI",
        "padchest": "cxrgen_bench.data.datasets.padchest:PadChest",
    },
    # versioned profiles
    "profiles": {
        "roentgen2022": "cxrgen_bench.profiles:roentgen2022",
        "roentgen2022-quick": "cxrgen_bench.profiles:roentgen2022_quick",
        "calibration-phantom": "cxrgen_bench.profiles:calibration_phantom",
        "chexgenbench2025": "cxrgen_bench.profiles:chexgenbench2025",
    },
    # the reference trainer's methods
    "trainers": {
        "roentgen": "cxrgen_bench.generators.roentgen.methods:FineTune",
        "dreambooth": "cxrgen_bench.generators.roentgen.methods:DreamBooth",
        "lora": "cxrgen_bench.generators.roentgen.methods:LoRA",
        "textual-inversion": "cxrgen_bench.generators.roentgen.methods:TextualInversion",
        "textual-projection": "cxrgen_bench.generators.roentgen.methods:TextualProjection",
    },
}


def _register_builtins() -> None:
    for kind, targets in BUILTINS.items():
        for name, target in targets.items():
            REGISTRIES[kind].register(name, target)

_register_builtins()


def listing(kind: str) -> dict[str, dict[str, Any]]:
    """What `cxrgen-bench ls KIND` shows: each name, who registered it, and a metric's card."""
    if kind not in REGISTRIES:
        raise InputError(f"unknown kind {kind!r}; kinds: {', '.join(REGISTRIES)}")
    reg = REGISTRIES[kind]
    out: dict[str, dict[str, Any]] = {}
    for name in reg.names():
        out[name] = {"source": reg.source(name)}
        if reg is METRICS:
            try:
                out[name]["card"] = reg.get(name).card.describe()
            except RegistryError as exc:  # a broken plug-in is listed with its problem, not hidden
                out[name]["error"] = str(exc)
    return out


class NoCardError(KeyError):
    """A results key whose metric has no card (an uninstalled plug-in, or a typo)."""

    def __str__(self) -> str:
        return self.args[0] if self.args else "no metric card"


def card_for(key: str) -> Card:
    """The card of a results key such as "fid[xrv-densenet121]", "ms_ssim" or "chexpert_at_k[cls]"."""
    base = base_of(key)
    if base not in METRICS:
        raise NoCardError(f"no metric card for {key!r}: its metric is not registered (install the plug-in that "
                          f"defines {base!r})")
    try:
        return METRICS.get(base).card
    except RegistryError as exc:
        raise NoCardError(f"no metric card for {key!r}: {exc}") from None


def find_card(key: str) -> Card | None:
    try:
        return card_for(key)
    except NoCardError:
        return None
