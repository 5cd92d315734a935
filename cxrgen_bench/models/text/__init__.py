"""Text encoders (the `text_encoders` registry): transformers folders, the text tower of a diffusers
pipeline folder, open_clip text towers; see base.py for the extraction methods."""
from __future__ import annotations

from pathlib import Path

from ...errors import InputError
from ...registry import TEXT_ENCODERS
from .base import EXTRACTIONS, TextEncoder


def load_text_encoder(spec: str, device: str = "cpu", allow_pickle: bool = False) -> TextEncoder:
    """A text encoder from ``KIND:LOCATION`` (KIND a registered text encoder) or a folder whose layout
    says what it is: model_index.json or text_encoder/ → a pipeline's or a trainer checkpoint's text
    encoder; config.json → transformers."""
    kind, sep, location = spec.partition(":")
    if sep and kind in TEXT_ENCODERS:
        return TEXT_ENCODERS.get(kind)(location, device=device, allow_pickle=allow_pickle)
    if spec in TEXT_ENCODERS:  # an encoder with no location (e.g. a baseline)
        return TEXT_ENCODERS.get(spec)(None, device=device, allow_pickle=allow_pickle)
    folder = Path(spec)
    if (folder / "model_index.json").is_file() or (folder / "text_encoder").is_dir():  # a pipeline or a checkpoint
        return TEXT_ENCODERS.get("diffusers")(folder, device=device, allow_pickle=allow_pickle)
    if (folder / "config.json").is_file():
        return TEXT_ENCODERS.get("transformers")(folder, device=device, allow_pickle=allow_pickle)
    what = "does not exist" if not folder.exists() else "has neither model_index.json nor config.json"
    raise InputError(f"text encoder {spec!r}: {what}. Give a diffusers pipeline folder, a transformers encoder "
                     f"folder, or KIND:LOCATION with KIND one of {', '.join(TEXT_ENCODERS.names())}")


__all__ = ["EXTRACTIONS", "TextEncoder", "load_text_encoder"]
