"""Annotators of clinical entities in reports, for factENT and RadGraph F1 (the scoring itself is in
`functional/report_entities.py`).

- `StanzaRadiologyNER`: Stanza's radiology NER (ANATOMY, OBSERVATION, ...), as ViLMedic's factENT
  runs it: the report lower-cased with " ." → ".", single-token ANATOMY and OBSERVATION mentions kept.
  Its models come from Stanza's resources folder ($STANZA_RESOURCES_DIR or ~/stanza_resources,
  package "radiology"); nothing is downloaded.
- `RadiologyNLI`: the BERT NLI model of ViLMedic's factENTNLI (`model_medrad_19k.gz`: a gzipped
  state dict of a bert-base encoder with its pooler, `bert.*`, and `linear` (hidden → 3: entailment,
  neutral, contradiction) on the pooled output). Read with PyTorch's weights-only unpickler; inputs
  lower-cased as "[CLS] first [SEP] second [SEP]" with segment ids, at most 384 tokens. The folder
  also holds bert-base-uncased's vocab.txt; `--weights factentnli=FOLDER`.
- `RadGraphAnnotator`: the `radgraph` package's model (model_type pinned in the profile; "radgraph"
  is the 2022 model the paper's scorer used, not the package's newer default). The package downloads
  it into its cache folder (appdirs' user cache "radgraph/<model_type>") when that is empty; here the
  folder must already hold it, which is checked before the package is called, so a missing model is
  a clear message rather than a download attempt.
"""
from __future__ import annotations

import os
from typing import Any

from ...errors import InputError, WeightsError
from ..base import Model
from ..weights import weights_root

HUB_CACHE = "hf-cache"  # RadGraph's embedder BERT, as `weights fetch` keeps it beside the model


def factent_text(report: str) -> str:
    """ViLMedic's normalisation before NER."""
    return report.lower().replace(" .", ".")


class StanzaRadiologyNER(Model):
    kind = "report-annotator"
    name = "stanza-radiology"
    KEEP = ("ANATOMY", "OBSERVATION")

    def __init__(self, resources: str | None = None, device: str = "cpu", **_: Any):
        super().__init__(device=device)
        fetched = weights_root() / "stanza"  # where `weights fetch` puts Stanza's resources
        self.resources = resources or os.environ.get("STANZA_RESOURCES_DIR") or \
            (str(fetched) if fetched.is_dir() else os.path.expanduser("~/stanza_resources"))
        try:
            import stanza
        except ImportError:
            raise InputError("factENT needs Stanza: pip install 'cxrgen-bench[rrg]'") from None
        folder = os.path.join(self.resources, "en")
        if not os.path.isdir(os.path.join(folder, "ner")) or not any("radiology" in f for f in os.listdir(
                os.path.join(folder, "ner"))):
            raise WeightsError(f"factENT needs Stanza's radiology NER models in {self.resources} (en/ner/radiology.pt "
                               "and its tokenizer): on a machine with internet run python -c \"import stanza; "
                               "stanza.download('en', package='radiology', processors={'ner': 'radiology'})\" and "
                               "copy the folder, or set STANZA_RESOURCES_DIR")
        self.provenance = {"path": self.resources, "source": f"stanza {stanza.__version__} radiology package",
                           "sha256": _tree_sha256(folder)}

    def load(self) -> Any:
        import stanza

        return stanza.Pipeline("en", package="radiology", processors={"tokenize": "default", "ner": "radiology"},
                               dir=self.resources, download_method=None, logging_level="error",
                               use_gpu=self.device != "cpu")

    def sentences(self, reports: list[str]) -> list[list[tuple[str, list[str]]]]:
        """Per report, its sentences as (tokens joined by spaces, single-token ANATOMY/OBSERVATION
        entities): the tokens whose NER tag is S-ANATOMY or S-OBSERVATION."""
        keep = {f"S-{t}" for t in self.KEEP}
        out = []
        for report in reports:
            doc = self.model(factent_text(report)) if report.strip() else None
            out.append([(" ".join(t.text for t in sent.tokens), [t.text for t in sent.tokens if t.ner in keep])
                        for sent in (doc.sentences if doc else [])])
        return out

    def entities(self, reports: list[str]) -> list[list[str]]:
        return [[e for _, ents in sents for e in ents] for sents in self.sentences(reports)]


class RadiologyNLI(Model):
    kind = "report-annotator"
    name = "radnli"
    LABELS = ("entailment", "neutral", "contradiction")
    MAX_TOKENS = 384
    SOURCE = "ViLMedic's factENTNLI model (model_medrad_19k.gz, linked from its scorer documentation)"

    def __init__(self, location: str | None = None, device: str = "cpu", **_: Any):
        super().__init__(device=device)
        from pathlib import Path

        hint = (f"factENTNLI needs {self.SOURCE}: put model_medrad_19k.gz and bert-base-uncased's vocab.txt in a "
                "folder and pass --weights factentnli=FOLDER, or put them in the weights folder's factentnli/ "
                "(`cxrgen-bench weights fetch --only factentnli` says where to get them)")
        location = location or (str(weights_root() / "factentnli") if (weights_root() / "factentnli").is_dir()
                                else None)
        if not location:
            raise WeightsError(hint)
        self.folder = Path(location).expanduser()
        self.file = next((self.folder / f for f in ("model_medrad_19k.safetensors", "model_medrad_19k.gz")
                          if (self.folder / f).is_file()), None)
        if self.file is None or not (self.folder / "vocab.txt").is_file():
            raise WeightsError(f"{self.folder}: model_medrad_19k.gz (or .safetensors) and vocab.txt expected. " + hint)
        from ..folders import folder_sha256

        self.provenance = {"path": str(self.file), "source": self.SOURCE, "sha256": folder_sha256(self.folder)}

    def load(self) -> Any:
        import gzip

        import torch
        from transformers import BertConfig, BertModel, BertTokenizer

        if self.file.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(self.file))
        else:
            try:
                with gzip.open(self.file, "rb") as f:
                    state = torch.load(f, map_location="cpu", weights_only=True)
            except Exception as exc:  # noqa: BLE001 — the weights-only unpickler refuses anything but tensors
                raise WeightsError(f"{self.file}: not readable as a weights-only gzipped state dict ({exc})") from None
        try:
            vocab, hidden = state["bert.embeddings.word_embeddings.weight"].shape
            layers = 1 + max(int(k.split(".")[3]) for k in state if k.startswith("bert.encoder.layer."))
            config = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                                num_attention_heads=max(1, hidden // 64),
                                intermediate_size=state["bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
                                max_position_embeddings=state["bert.embeddings.position_embeddings.weight"].shape[0])
            bert = BertModel(config)
            missing = [k for k in bert.state_dict() if f"bert.{k}" not in state and not k.endswith("position_ids")]
            if missing or "linear.weight" not in state:
                raise KeyError(missing[:3] or ["linear.weight"])
        except (KeyError, ValueError) as exc:
            raise WeightsError(f"{self.file}: not the BERT NLI layout (bert.* with pooler, linear.*): {exc}") from None
        bert.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("bert.")}, strict=False)
        head = torch.nn.Linear(hidden, 3)
        head.load_state_dict({"weight": state["linear.weight"], "bias": state["linear.bias"]})
        return bert.eval().to(self.device), head.eval().to(self.device), BertTokenizer(str(self.folder / "vocab.txt"))

    def predict(self, first: list[str], second: list[str]) -> list[str]:
        """The NLI label of each (first, second) sentence pair."""
        import torch

        bert, head, tok = self.model
        labels: list[str] = []
        for start in range(0, len(first), 32):
            rows, segments = [], []
            for a, b in zip(first[start:start + 32], second[start:start + 32]):
                ta, tb = tok.tokenize(a.lower()), tok.tokenize(b.lower())
                tokens = (["[CLS]"] + ta + ["[SEP]"] + tb + ["[SEP]"])[:self.MAX_TOKENS]
                rows.append(tok.convert_tokens_to_ids(tokens))
                segments.append([0 if i < len(ta) + 2 else 1 for i in range(len(tokens))])
            width = max(len(r) for r in rows)
            ids = torch.tensor([r + [tok.pad_token_id] * (width - len(r)) for r in rows], device=self.device)
            seg = torch.tensor([s + [0] * (width - len(s)) for s in segments], device=self.device)
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=self.device)
            with torch.inference_mode():
                pooled = bert(ids, attention_mask=mask, token_type_ids=seg).pooler_output
                labels += [self.LABELS[i] for i in head(pooled).argmax(dim=1).tolist()]
        return labels


class RadGraphAnnotator(Model):
    kind = "report-annotator"
    name = "radgraph"

    def __init__(self, model_type: str = "radgraph", lowercase: bool = False, device: str = "cpu",
                 cache_dir: str | None = None, **_: Any):
        super().__init__(device=device)
        self.model_type, self.lowercase = model_type, lowercase
        try:
            import radgraph
            from appdirs import user_cache_dir
        except ImportError:
            raise InputError("RadGraph F1 needs the radgraph package (pip install radgraph==0.1.18) and its model "
                             f"{model_type!r}") from None
        # radgraph downloads its model into this folder when it is empty: here it must already be there
        fetched = weights_root() / "radgraph"  # where `weights fetch` unpacks it
        self.cache_dir = cache_dir or (str(fetched) if (fetched / model_type).is_dir() else user_cache_dir("radgraph"))
        model_dir = os.path.join(self.cache_dir, model_type)
        if not os.path.isdir(model_dir) or not os.listdir(model_dir):
            raise WeightsError(f"RadGraph model {model_type!r} is not in {model_dir}: fetch it with `cxrgen-bench "
                               "weights fetch --only radgraph` (or on a machine without internet, install a bundle: "
                               "`cxrgen-bench weights install models.tar`), or set metrics.rrg.radgraph.cache_dir "
                               "in the profile")
        self.provenance = {"path": model_dir, "source": f"radgraph {getattr(radgraph, '__version__', '?')} model "
                                                        f"{model_type}", "sha256": _tree_sha256(model_dir)}

    def load(self) -> Any:
        import radgraph

        from ...environment import environ

        # `weights fetch` keeps the BERT that RadGraph's embedder names in a Hub cache beside the model, so that
        # a folder carried to a machine without internet holds everything
        hub_cache = os.path.join(self.cache_dir, HUB_CACHE)
        with environ({"HF_HUB_CACHE": hub_cache} if os.path.isdir(hub_cache) else {}):
            return radgraph.RadGraph(model_type=self.model_type, model_cache_dir=self.cache_dir,
                                     cuda=-1 if self.device == "cpu" else 0)

    def annotate(self, reports: list[str]) -> list[dict[str, Any]]:
        """One annotation per report; an empty report has no entities and is not sent to the model
        (radgraph 0.1.18's reward scores it 0 without annotating it)."""
        texts = [r.lower() if self.lowercase else r for r in reports]
        todo = [i for i, t in enumerate(texts) if t.strip()]
        out = self.model([texts[i] for i in todo]) if todo else {}
        annotations = [{"entities": {}} for _ in texts]
        for k, i in enumerate(todo):
            annotations[i] = out.get(str(k)) or out.get(k) or {"entities": {}}
        return annotations


def _tree_sha256(folder: str) -> str:
    import hashlib

    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for f in sorted(files):
            h.update(f.encode())
            with open(os.path.join(root, f), "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()
