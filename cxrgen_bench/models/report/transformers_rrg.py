"""`transformers`: any transformers image-to-text folder as a report generator — VisionEncoderDecoder
and the AutoModelForVision2Seq / AutoModelForImageTextToText family — with the folder's own image
processor and tokenizer. Deterministic decoding from the profile (beam size, maximum new tokens, no
sampling): the settings are part of the cache key of the generated reports. Safetensors only unless
--allow-pickle; code shipped in the folder only with --trust-remote-code (recorded in the results)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from ..base import folder_provenance
from ..folders import CONFIG_SUFFIXES, WEIGHT_SUFFIXES
from ..transformers_folders import quiet_transformers
from .base import ReportGenerator

DEFAULT_DECODING = {"num_beams": 1, "max_new_tokens": 128, "do_sample": False}


class TransformersReportGenerator(ReportGenerator):
    name = "transformers"

    def __init__(self, location: str | None = None, trust_remote_code: bool = False, **kwargs: Any):
        super().__init__(location, **kwargs)
        if not location:
            raise InputError("the transformers report generator needs a model folder: --report-generator FOLDER")
        self.folder = Path(location).expanduser()
        if not (self.folder / "config.json").is_file():
            raise InputError(f"{self.folder}: no config.json; a transformers image-to-text model folder is expected")
        self.trust_remote_code = trust_remote_code
        self.provenance = {**folder_provenance(self.folder, self.allow_pickle, WEIGHT_SUFFIXES + CONFIG_SUFFIXES),
                           "trust_remote_code": trust_remote_code}
        decoding = {**DEFAULT_DECODING, **self.settings.get("decoding", {})}
        if decoding.get("do_sample"):
            raise InputError("report generation must be deterministic: do_sample is refused (set num_beams instead)")
        self.settings = {**self.settings, "decoding": decoding}

    def load(self) -> Any:
        import transformers

        common = dict(local_files_only=True, trust_remote_code=self.trust_remote_code)
        with quiet_transformers():
            config = transformers.AutoConfig.from_pretrained(str(self.folder), **common)
            auto = transformers.VisionEncoderDecoderModel if config.model_type == "vision-encoder-decoder" else \
                getattr(transformers, "AutoModelForImageTextToText", None) or transformers.AutoModelForVision2Seq
            model = auto.from_pretrained(str(self.folder), use_safetensors=None if self.allow_pickle else True, **common)
            processor = transformers.AutoImageProcessor.from_pretrained(str(self.folder), **common)
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(self.folder), **common)
        return model.eval().to(self.device), processor, tokenizer

    def write(self, images: list[np.ndarray]) -> list[str]:
        import torch
        from PIL import Image

        model, processor, tokenizer = self.model
        rgb = [Image.fromarray(np.clip(np.rint(i * 255), 0, 255).astype(np.uint8)).convert("RGB") for i in images]
        pixels = processor(images=rgb, return_tensors="pt")["pixel_values"].to(self.device)
        with torch.inference_mode():
            ids = model.generate(pixel_values=pixels, **self.settings["decoding"])
        return [t.strip() for t in tokenizer.batch_decode(ids, skip_special_tokens=True)]
