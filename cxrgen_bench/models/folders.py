"""Model folders (diffusers pipelines, transformers models): refuse what would run code, hash what
changes outputs.

A folder is refused when a component's code would come from the checkpoint (a library other than
diffusers/transformers in model_index.json, or an `auto_map` in a config: "remote code"), and, unless
the user allows pickle, when a component's weights exist only as pickle files. The refusal names the
file responsible and says how to convert it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

from ..errors import InputError, WeightsError

PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")
WEIGHT_SUFFIXES = (".safetensors",) + PICKLE_SUFFIXES
# Files besides the weights that change a text model's outputs: configs and tokenizer vocabularies.
CONFIG_SUFFIXES = (".json", ".txt", ".model")
SAFE_LIBRARIES = (None, "diffusers", "transformers")
# What an open_clip hub-format folder holds (BiomedCLIP's and the like), weights best first (open_clip's
# own search order): the image–text models read it, and `weights convert` writes the first name.
HUB_CONFIG = "open_clip_config.json"
HUB_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin", "open_clip_model.bin")


def check_pipeline_folder(folder: Path, allow_pickle: bool) -> None:
    """A diffusers pipeline folder (model_index.json) whose every component is safe to load."""
    if not folder.is_dir() or not (folder / "model_index.json").is_file():
        raise InputError(f"{folder}: not a diffusers pipeline folder (no model_index.json); save the pipeline with "
                         "pipeline.save_pretrained(folder, safe_serialization=True)")
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    for component, spec in index.items():
        if component.startswith("_") or not isinstance(spec, list) or len(spec) != 2:
            continue
        if spec[0] not in SAFE_LIBRARIES:
            raise WeightsError(f"{folder / 'model_index.json'}: component {component!r} comes from library "
                               f"{spec[0]!r}, i.e. code shipped with the checkpoint; refusing to run it")
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        check_model_folder(sub, allow_pickle, require_weights=False)


def check_model_folder(folder: Path, allow_pickle: bool, require_weights: bool = True) -> str:
    """One model's folder (config + weights): "safetensors", or "pickle" when allowed; refuses remote code."""
    if not folder.is_dir():
        raise InputError(f"{folder}: model folder not found")
    config = folder / "config.json"
    if config.is_file():
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{config}: not valid JSON: {exc}") from exc
        if isinstance(data, dict) and data.get("auto_map"):
            raise WeightsError(f"{config}: declares auto_map, i.e. model code shipped with the checkpoint "
                               "(trust_remote_code); cxrgen-bench never runs code from a checkpoint")
    files = [p for p in folder.iterdir() if p.is_file()]
    if any(p.suffix == ".safetensors" for p in files):
        return "safetensors"
    pickles = [p for p in files if p.suffix in PICKLE_SUFFIXES]
    if pickles:
        from .weights import describe_unknown, sniff_format

        if sniff_format(pickles[0]) == "unknown":  # named like weights, but no format torch reads: say what it is
            raise WeightsError(f"{pickles[0]}: {describe_unknown(pickles[0])}")
        if not allow_pickle:
            raise WeightsError(f"{pickles[0]}: pickle weights (loading them could execute code); convert the "
                               "model to safetensors (model.save_pretrained(folder, safe_serialization=True)) or "
                               "pass --allow-pickle if you trust this checkpoint")
        return "pickle"
    if require_weights:
        raise InputError(f"{folder}: no weights (*.safetensors) in this model folder")
    return "none"


def folder_sha256(folder: Path, suffixes: Iterable[str] = WEIGHT_SUFFIXES) -> str:
    """One hash over the files of ``folder`` with these suffixes (relative name + content)."""
    suffixes = tuple(suffixes)
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in suffixes:
            h.update(str(path.relative_to(folder)).encode())
            with open(path, "rb") as f:
                while block := f.read(1 << 22):
                    h.update(block)
    return h.hexdigest()
