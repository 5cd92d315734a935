"""Annotators of clinical entities in reports, for factENT and RadGraph F1 (the scoring itself is in
`functional/report_entities.py`).

- `StanzaRadiologyNER`: Stanza's radiology NER (ANATOMY, OBSERVATION, ...), as ViLMedic's factENT
  runs it: the report lower-cased with " ." → ".", single-token ANATOMY and OBSERVATION mentions kept.
  Its models come from Stanza's resources folder ($STANZA_RESOURCES_DIR or ~/stanza_resources,
  package "radiology"); nothing is downloaded.
- `RadGraphAnnotator`: the `radgraph` package's model (model_type pinned in the profile; "radgraph"
  is the 2022 model the paper's scorer used, not the package's newer default); the package fetches
  its weights from the Hugging Face hub, so here they must already be in its cache, and hub access
  is switched off while it loads so that a missing file fails at once with a clear message.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator

from ...errors import InputError, WeightsError
from ..base import Model


@contextmanager
def hub_offline() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def factent_text(report: str) -> str:
    """ViLMedic's normalisation before NER."""
    return report.lower().replace(" .", ".")


class StanzaRadiologyNER(Model):
    kind = "report-annotator"
    name = "stanza-radiology"
    KEEP = ("ANATOMY", "OBSERVATION")

    def __init__(self, resources: str | None = None, device: str = "cpu", **_: Any):
        super().__init__(device=device)
        self.resources = resources or os.environ.get("STANZA_RESOURCES_DIR") or os.path.expanduser("~/stanza_resources")
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

    def entities(self, reports: list[str]) -> list[list[str]]:
        out = []
        for report in reports:
            doc = self.model(factent_text(report))
            out.append([e.text for e in doc.entities if e.type in self.KEEP and len(e.text.split()) == 1])
        return out


class RadGraphAnnotator(Model):
    kind = "report-annotator"
    name = "radgraph"

    def __init__(self, model_type: str = "radgraph", lowercase: bool = True, device: str = "cpu", **_: Any):
        super().__init__(device=device)
        self.model_type, self.lowercase = model_type, lowercase
        try:
            import radgraph
        except ImportError:
            raise InputError("RadGraph F1 needs the radgraph package (pip install radgraph==0.1.18) and its model "
                             f"{model_type!r} in the Hugging Face cache") from None
        self.provenance = {"source": f"radgraph {getattr(radgraph, '__version__', '?')} model {model_type}",
                           "sha256": f"radgraph-model:{model_type}"}

    def load(self) -> Any:
        import radgraph

        try:
            with hub_offline():
                return radgraph.RadGraph(model_type=self.model_type, cuda=-1 if self.device == "cpu" else 0)
        except Exception as exc:  # noqa: BLE001 — the package raises many kinds when its files are absent
            raise WeightsError(f"RadGraph model {self.model_type!r} is not in the Hugging Face cache "
                               f"({type(exc).__name__}: {exc}); on a machine with internet run "
                               f"radgraph.RadGraph(model_type={self.model_type!r}) once and copy ~/.cache/huggingface"
                               ) from None

    def annotate(self, reports: list[str]) -> list[dict[str, Any]]:
        texts = [r.lower() if self.lowercase else r for r in reports]
        out = self.model(texts)
        return [out[str(i)] if str(i) in out else out.get(i, {"entities": {}}) for i in range(len(texts))]


def _tree_sha256(folder: str) -> str:
    import hashlib

    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for f in sorted(files):
            h.update(f.encode())
            with open(os.path.join(root, f), "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()
