"""The two models of RaTEScore (scored by `functional/ratescore.py`), read from their published transformers
folders, never with remote code:

- RaTE-NER (Angelakeke/RaTE-NER-Deberta): a DeBERTa token classifier whose config's `id2label` holds the
  BIO tags of the five RaTEScore types; `--weights rate-ner=FOLDER` (or `ner_folder:` in the profile).
- BioLORD-2023-C (FremyCompany/BioLORD-2023-C): the entity encoder, its last-layer [CLS] state of each
  entity text (at most 30 tokens), as the RaTEScore package reads it; `--weights biolord=FOLDER` (or
  `embedding_folder:`).

Both folders are checked before loading (config.json, tokenizer, safetensors unless --allow-pickle, no
`auto_map`); their sha256 (weights, config and tokenizer files) goes into the results and may be pinned
in the profile (`ner_sha256:`, `embedding_sha256:`).

Reports are split into sentences first (sentences without a word or under 3 characters dropped) and NER
runs per sentence (at most 512 tokens), as the package does. The package splits with medspacy's PyRuSH
(`sentence_splitter: pyrush`, the default; needs `pip install medspacy`, which pins numpy below 2);
`sentence_splitter: punctuation` splits after . ! ? followed by white space and at line breaks instead: a
named difference, recorded in the results.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ...errors import InputError, WeightsError
from ...functional.ratescore import AFFINITY, TYPES, entity_spans
from ..base import Model, folder_provenance
from ..folders import CONFIG_SUFFIXES, WEIGHT_SUFFIXES
from ..weights import model_folder as find_model_folder
from ..transformers_folders import load_checked, load_tokenizer, quiet_transformers, read_config, require_tokenizer

SOURCES = {"rate-ner": "RaTE-NER (Angelakeke/RaTE-NER-Deberta on the Hugging Face hub)",
           "biolord": "BioLORD-2023-C (FremyCompany/BioLORD-2023-C on the Hugging Face hub)"}
SPLITTERS = ("pyrush", "punctuation")
TAGS = {"O"} | {f"{p}-{t}" for p in "BI" for t in TYPES}
NER_MAX_TOKENS, ENTITY_MAX_TOKENS = 512, 30
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def model_folder(name: str, explicit: str | None, cfg: Mapping[str, Any], key: str) -> Path:
    hint = (f"RaTEScore needs {SOURCES[name]}: fetch it with `cxrgen-bench weights fetch --only {name}`, or save it "
            f"as a transformers folder (config.json, model.safetensors, tokenizer files) and pass --weights "
            f"{name}=FOLDER (or set `{key}:` under metrics.ratescore in the profile)")
    given = explicit or cfg.get(key)
    if given and not (Path(given).expanduser() / "config.json").is_file():
        raise WeightsError(f"{Path(given).expanduser()}: no config.json, so not a transformers model folder. {hint}")
    folder = find_model_folder(name, explicit, cfg.get(key))
    if folder is None:
        raise WeightsError(hint)
    require_tokenizer(folder)
    return folder


def split_punctuation_sentences(text: str) -> list[str]:
    return _SENTENCE_END.split(text)


class RaTEScoreModels(Model):
    kind = "report-scorer"
    name = "ratescore"

    def __init__(self, cfg: Mapping[str, Any], weights: Mapping[str, str] | None = None, device: str = "cpu",
                 allow_pickle: bool = False, batch_size: int = 16):
        super().__init__(device=device, allow_pickle=allow_pickle)
        self.cfg, weights = dict(cfg), dict(weights or {})
        self.splitter = self.cfg.get("sentence_splitter", "pyrush")
        if self.cfg.get("affinity", "long") not in AFFINITY:
            raise InputError(f"ratescore: affinity {self.cfg.get('affinity')!r} unknown; choose from {', '.join(AFFINITY)}")
        if self.splitter not in SPLITTERS:
            raise InputError(f"ratescore: sentence_splitter {self.splitter!r} unknown; choose from {', '.join(SPLITTERS)}")
        self.folders = {"rate-ner": model_folder("rate-ner", weights.get("rate-ner"), self.cfg, "ner_folder"),
                        "biolord": model_folder("biolord", weights.get("biolord"), self.cfg, "embedding_folder")}
        parts = {}
        for name, folder in self.folders.items():
            parts[name] = folder_provenance(folder, allow_pickle, WEIGHT_SUFFIXES + CONFIG_SUFFIXES)
            pinned = self.cfg.get("ner_sha256" if name == "rate-ner" else "embedding_sha256")
            if pinned and pinned != parts[name]["sha256"]:
                raise WeightsError(f"{folder}: sha256 {parts[name]['sha256']} is not the {pinned} the profile pins "
                                   f"for {SOURCES[name]}; is it another version?")
        labels = {str(v) for v in (read_config(self.folders["rate-ner"]).get("id2label") or {}).values()}
        if not labels or not labels <= TAGS:
            raise WeightsError(f"{self.folders['rate-ner']}: config.json's id2label {sorted(labels)[:8]} is not RaTE-NER's "
                               f"(O and B-/I- of {', '.join(TYPES)})")
        self.provenance = {"path": str(self.folders["rate-ner"]), "source": "RaTE-NER + BioLORD-2023-C",
                           "sha256": _combine(parts["rate-ner"]["sha256"], parts["biolord"]["sha256"]),
                           "parts": {n: {"path": p["path"], "sha256": p["sha256"], "format": p["format"]}
                                     for n, p in parts.items()}}
        self.batch_size = batch_size
        self._sentencizer: Any = None

    def settings(self) -> dict[str, Any]:
        return {"affinity": self.cfg.get("affinity", "long"), "sentence_splitter": self.splitter,
                "ner_max_tokens": NER_MAX_TOKENS, "entity_max_tokens": ENTITY_MAX_TOKENS, "entity_vector": "[CLS]"}

    def load(self) -> Any:
        from transformers import AutoModel, AutoModelForTokenClassification

        ner, _ = load_checked(AutoModelForTokenClassification, self.folders["rate-ner"], self.allow_pickle, self.device)
        encoder, _ = load_checked(AutoModel, self.folders["biolord"], self.allow_pickle, self.device)
        return (ner, load_tokenizer(self.folders["rate-ner"]), encoder, load_tokenizer(self.folders["biolord"]))

    # --- sentences ----------------------------------------------------------------------------
    def sentences(self, text: str) -> list[str]:
        if self.splitter == "pyrush":
            if self._sentencizer is None:
                try:
                    import medspacy
                except ImportError:
                    raise InputError("ratescore splits reports into sentences with medspacy's PyRuSH, as the RaTEScore "
                                     "package does: pip install medspacy, or set metrics.ratescore.sentence_splitter to "
                                     "punctuation (--set; a named difference, recorded)") from None
                self._sentencizer = medspacy.load(medspacy_enable=["medspacy_pyrush"])
            parts = [str(s) for s in self._sentencizer(text).sents]
        else:
            parts = split_punctuation_sentences(text)
        return [s.strip() for s in parts if s.split() and len(s.strip()) >= 3]

    # --- entities -----------------------------------------------------------------------------
    def entities(self, reports: list[str]) -> list[list[tuple[str, str]]]:
        """(entity text, type) of each report, sentence after sentence."""
        import torch

        ner, tokenizer, _, _ = self.model
        id2label = {int(k): str(v) for k, v in ner.config.id2label.items()}
        owners, sentences = [], []
        for r, report in enumerate(reports):
            for sentence in self.sentences(report):
                owners.append(r)
                sentences.append(sentence)
        out: list[list[tuple[str, str]]] = [[] for _ in reports]
        for start in range(0, len(sentences), self.batch_size):
            batch = sentences[start:start + self.batch_size]
            with quiet_transformers():
                enc = tokenizer(batch, max_length=NER_MAX_TOKENS, padding=True, truncation=True, return_tensors="pt")
            with torch.inference_mode():
                tags = ner(**{k: v.to(self.device) for k, v in enc.items()}).logits.argmax(dim=2).cpu().tolist()
            for row, owner in enumerate(owners[start:start + self.batch_size]):
                n = int(enc["attention_mask"][row].sum())
                tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][row][:n].tolist())
                labels = [id2label[t] for t in tags[row][:n]]
                out[owner] += [(tokenizer.convert_tokens_to_string(tokens[a:b + 1]), kind)
                               for a, b, kind in entity_spans(tokens, labels)]
        return out

    def embed(self, texts: list[str]) -> np.ndarray:
        """(n, d) float64 [CLS] states of entity texts (each at most 30 tokens)."""
        import torch

        _, _, encoder, tokenizer = self.model
        rows = []
        for start in range(0, len(texts), 64):
            with quiet_transformers():
                enc = tokenizer(texts[start:start + 64], truncation=True, padding=True, max_length=ENTITY_MAX_TOKENS,
                                return_tensors="pt")
            with torch.inference_mode():
                state = encoder(**{k: v.to(self.device) for k, v in enc.items()}).last_hidden_state
            rows.append(state[:, 0].double().cpu().numpy())
        return np.concatenate(rows) if rows else np.zeros((0, 0))


def _combine(*digests: str) -> str:
    import hashlib

    return hashlib.sha256("".join(digests).encode()).hexdigest()
