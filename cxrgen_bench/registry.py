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


def _register_builtins() -> None:
    # Strings, not imports: listing plug-ins must stay cheap (no torch import for `cxrgen-bench ls`).
    METRICS.register("fid", "cxrgen_bench.metrics.fid:FrechetDistance")
    METRICS.register("kid", "cxrgen_bench.metrics.kid:KernelInceptionDistance")
    METRICS.register("cmmd", "cxrgen_bench.metrics.cmmd:CMMD")
    METRICS.register("fd_infinity", "cxrgen_bench.metrics.fd_infinity:FrechetInfinity")
    METRICS.register("prdc_precision", "cxrgen_bench.metrics.prdc:PRDCPrecision")
    METRICS.register("prdc_recall", "cxrgen_bench.metrics.prdc:PRDCRecall")
    METRICS.register("prdc_density", "cxrgen_bench.metrics.prdc:PRDCDensity")
    METRICS.register("prdc_coverage", "cxrgen_bench.metrics.prdc:PRDCCoverage")
    # CheXGenBench's image metrics (issue 28): radiomics distance, Inception Score, re-identification
    METRICS.register("frd", "cxrgen_bench.metrics.frd:FrechetRadiomicsDistance")
    METRICS.register("inception_score", "cxrgen_bench.metrics.inception_score:InceptionScore")
    METRICS.register("reid", "cxrgen_bench.metrics.reidentification:ReIdentification")
    METRICS.register("ms_ssim", "cxrgen_bench.metrics.ms_ssim:IntraPromptMSSSIM")
    METRICS.register("classifier_auroc", "cxrgen_bench.metrics.classifier_auroc:ClassifierAUROC")
    METRICS.register("laterality", "cxrgen_bench.metrics.laterality:LateralityAdherence")
    METRICS.register("chexpert_at_k", "cxrgen_bench.metrics.chexpert_at_k:CheXpertAtK")
    METRICS.register("i2i_precision", "cxrgen_bench.metrics.retrieval:ImageToImagePrecision")
    METRICS.register("i2t_precision", "cxrgen_bench.metrics.retrieval:ImageToTextPrecision")
    METRICS.register("i2t_factual", "cxrgen_bench.metrics.i2t_factual:TopImpressionFactual")
    METRICS.register("alignment", "cxrgen_bench.metrics.alignment:ImageTextAlignment")
    METRICS.register("rrg", "cxrgen_bench.metrics.rrg:ReportGeneration")
    METRICS.register("radcliq", "cxrgen_bench.metrics.radcliq:RadCliQ")  # RadEval's report metrics (issue 28)
    METRICS.register("ratescore", "cxrgen_bench.metrics.ratescore:RaTEScore")
    # Downstream utility (RoentGen Table 5), computed by the augmentation study
    METRICS.register("augmentation_auroc", "cxrgen_bench.metrics.augmentation:AugmentationAUROC")
    METRICS.register("augmentation_accuracy", "cxrgen_bench.metrics.augmentation:AugmentationAccuracy")
    METRICS.register("augmentation_auroc_gain", "cxrgen_bench.metrics.augmentation:AugmentationGain")
    METRICS.register("augmentation_underdiagnosis_gap", "cxrgen_bench.metrics.augmentation:AugmentationUnderdiagnosisGap")
    METRICS.register("augmentation_underdiagnosis_gap_change",
                     "cxrgen_bench.metrics.augmentation:AugmentationUnderdiagnosisGapChange")
    STUDIES.register("augmentation", "cxrgen_bench.studies.augmentation:AugmentationStudy")
    BACKBONES.register("inception-v3-fid", "cxrgen_bench.models.image.inception_tf:InceptionV3FID")
    BACKBONES.register("xrv-densenet121", "cxrgen_bench.models.image.xrv_densenet:XRVDenseNet121")
    BACKBONES.register("clip-vit-b-32", "cxrgen_bench.models.image_text.clip_vit:CLIPViTB32")
    BACKBONES.register("cxr-repair", "cxrgen_bench.models.image_text.cxr_repair:CXRRePaiR")
    BACKBONES.register("convirt-resnet50", "cxrgen_bench.models.image.convirt:ConVIRTResNet50")
    BACKBONES.register("open-clip", "cxrgen_bench.models.image_text.open_clip:OpenCLIPImage")  # generic: `kind:`
    BACKBONES.register("transformers", "cxrgen_bench.models.image_text.transformers:TransformersVision")
    BACKBONES.register("phantom-evaluator", "cxrgen_bench.calibration.evaluator:PhantomEvaluator")
    BACKBONES.register("reid-siamese", "cxrgen_bench.models.image.reid_siamese:ReIDSiamese")
    BACKBONES.register("pyradiomics", "cxrgen_bench.models.image.radiomics:PyRadiomics")  # FRD's features
    BACKBONES.register("biovil-t", "cxrgen_bench.models.image_text.biovil_t:BioViLT")  # CheXGenBench's alignment
    # attribute predictors (demographic adherence, RoentGen-v2's quality check)
    BACKBONES.register("mira-sex", "cxrgen_bench.models.image.attributes:MiraSex")
    BACKBONES.register("xrv-race", "cxrgen_bench.models.image.attributes:XRVRace")
    BACKBONES.register("riken-age", "cxrgen_bench.models.image.attributes:RikenAge")
    BACKBONES.register("phantom-attributes", "cxrgen_bench.calibration.attributes:PhantomAttributes")
    METRICS.register("adherence", "cxrgen_bench.metrics.adherence:DemographicAdherence")
    TEXT_ENCODERS.register("transformers", "cxrgen_bench.models.text.hf:TransformersEncoder")
    TEXT_ENCODERS.register("diffusers", "cxrgen_bench.models.text.hf:DiffusersTextEncoder")
    TEXT_ENCODERS.register("open-clip", "cxrgen_bench.models.text.open_clip_text:OpenCLIPText")
    TEXT_ENCODERS.register("bow", "cxrgen_bench.models.text.bag_of_words:BagOfWords")
    TEXT_ENCODERS.register("phantom-reader", "cxrgen_bench.calibration.text_encoders:PhantomReader")
    TEXT_ENCODERS.register("phantom-reader-shuffled", "cxrgen_bench.calibration.text_encoders:ShuffledReader")
    TEXT_ENCODERS.register("random-hash", "cxrgen_bench.calibration.text_encoders:RandomHash")
    REPORT_GENERATORS.register("callable", "cxrgen_bench.models.report.callable:CallableReportGenerator")
    REPORT_GENERATORS.register("transformers", "cxrgen_bench.models.report.transformers_rrg:TransformersReportGenerator")
    REPORT_GENERATORS.register("phantom-reader", "cxrgen_bench.calibration.report_generator:PhantomReportGenerator")
    LABELLERS.register("rule-based", "cxrgen_bench.models.labellers.rule_based:RuleBasedLabeller")
    LABELLERS.register("chexbert", "cxrgen_bench.models.labellers.chexbert:CheXbertLabeller")
    GENERATORS.register("diffusers", "cxrgen_bench.generators.diffusers_pipeline:DiffusersGenerator")
    GENERATORS.register("folder", "cxrgen_bench.generators.folder:FolderGenerator")
    GENERATORS.register("real", "cxrgen_bench.generators.real:RealImages")
    GENERATORS.register("callable", "cxrgen_bench.generators.callable:CallableGenerator")
    GENERATORS.register("textual-projection", "cxrgen_bench.generators.textual_projection:TextualProjectionGenerator")
    GENERATORS.register("phantom-faithful", "cxrgen_bench.generators.phantom:PhantomGenerator")
    GENERATORS.register("phantom-ignores-prompt", "cxrgen_bench.generators.phantom:IgnoresPrompt")
    GENERATORS.register("phantom-flips-laterality", "cxrgen_bench.generators.phantom:FlipsLaterality")
    GENERATORS.register("phantom-mode-collapse", "cxrgen_bench.generators.phantom:ModeCollapse")
    GENERATORS.register("phantom-degraded", "cxrgen_bench.generators.phantom:Degraded")
    GENERATORS.register("phantom-fails-effusion", "cxrgen_bench.generators.phantom:FailsEffusion")
    GENERATORS.register("phantom-copies-training", "cxrgen_bench.generators.phantom:CopiesTraining")
    GENERATORS.register("phantom-ignores-demographics", "cxrgen_bench.generators.phantom:IgnoresDemographics")
    GENERATORS.register("phantom-underserves-female", "cxrgen_bench.generators.phantom:UnderservesFemale")
    DATASETS.register("phantom", "cxrgen_bench.calibration.dataset:PhantomDataset")
    DATASETS.register("mimic-cxr", "cxrgen_bench.data.datasets.mimic:MimicCXR")
    DATASETS.register("openi", "cxrgen_bench.data.datasets.openi:OpenI")
    DATASETS.register("padchest", "cxrgen_bench.data.datasets.padchest:PadChest")
    PROFILES.register("roentgen2022", "cxrgen_bench.profiles:roentgen2022")
    PROFILES.register("roentgen2022-quick", "cxrgen_bench.profiles:roentgen2022_quick")
    PROFILES.register("calibration-phantom", "cxrgen_bench.profiles:calibration_phantom")
    PROFILES.register("chexgenbench2025", "cxrgen_bench.profiles:chexgenbench2025")
    TRAINERS.register("roentgen", "cxrgen_bench.generators.roentgen.methods:FineTune")
    TRAINERS.register("dreambooth", "cxrgen_bench.generators.roentgen.methods:DreamBooth")
    TRAINERS.register("lora", "cxrgen_bench.generators.roentgen.methods:LoRA")
    TRAINERS.register("textual-inversion", "cxrgen_bench.generators.roentgen.methods:TextualInversion")
    TRAINERS.register("textual-projection", "cxrgen_bench.generators.roentgen.methods:TextualProjection")
    STUDIES.register("memorisation", "cxrgen_bench.studies.memorisation:MemorisationStudy")
    METRICS.register("memorisation_share", "cxrgen_bench.metrics.memorisation:MemorisationShare")
    METRICS.register("memorisation_ratio", "cxrgen_bench.metrics.memorisation:MemorisationRatio")
    METRICS.register("memorisation_distance", "cxrgen_bench.metrics.memorisation:MemorisationDistance")
    # The radiologists' reader study (RoentGen §6.5): cards of what `cxrgen-bench reader-study analyse` writes
    METRICS.register("reader_realism", "cxrgen_bench.metrics.reader:ReaderRealism")
    METRICS.register("reader_lean_real", "cxrgen_bench.metrics.reader:ReaderLeanReal")
    METRICS.register("reader_alignment", "cxrgen_bench.metrics.reader:ReaderAlignment")
    METRICS.register("reader_kappa", "cxrgen_bench.metrics.reader:ReaderKappa")
    METRICS.register("reader_alpha", "cxrgen_bench.metrics.reader:ReaderAlpha")
    # VAE reconstruction (seeds/001 §2.3, Table 1): the study, its metric cards and the autoencoders
    STUDIES.register("vae-reconstruction", "cxrgen_bench.studies.reconstruction:VAEReconstruction")
    METRICS.register("recon_rmse", "cxrgen_bench.metrics.reconstruction:ReconRMSE")
    METRICS.register("recon_psnr", "cxrgen_bench.metrics.reconstruction:ReconPSNR")
    METRICS.register("recon_ssim", "cxrgen_bench.metrics.reconstruction:ReconSSIM")
    METRICS.register("recon_fd", "cxrgen_bench.metrics.reconstruction:ReconFD")
    METRICS.register("recon_accuracy", "cxrgen_bench.metrics.reconstruction:ReconAccuracy")
    METRICS.register("recon_f1", "cxrgen_bench.metrics.reconstruction:ReconF1")
    METRICS.register("recon_agreement", "cxrgen_bench.metrics.reconstruction:ReconAgreement")
    METRICS.register("recon_cosine", "cxrgen_bench.metrics.reconstruction:ReconCosine")
    AUTOENCODERS.register("diffusers", "cxrgen_bench.models.autoencoders:DiffusersAutoencoder")
    AUTOENCODERS.register("codec-down2", "cxrgen_bench.calibration.codecs:Down2")
    AUTOENCODERS.register("codec-down8", "cxrgen_bench.calibration.codecs:Down8")
    AUTOENCODERS.register("codec-shuffle", "cxrgen_bench.calibration.codecs:ShuffleCodec")


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
