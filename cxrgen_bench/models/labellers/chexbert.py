"""`chexbert`: the CheXbert report labeller (Smit et al. 2020), the model behind F1-CheXbert.

Architecture: a BERT encoder (bert-base-uncased) whose last-layer [CLS] state feeds 13 four-way
heads (blank, positive, negative, uncertain) and one two-way head for No Finding (blank,
positive), in CheXbert's class order (`HEAD_ORDER`). The official checkpoint `chexbert.pth` is a
pickled dict {"model_state_dict": {"module.bert.*", "module.linear_heads.N.*"}, ...}: it is read with
PyTorch's weights-only unpickler, which builds tensors and plain containers and runs no code from
the file (a `chexbert.safetensors` of the same tensors beside it is read first). The BERT size is read from the
tensors' shapes (bert-base for the real file; tests save a small one in the same format).

Where the files go: one folder holding `chexbert.pth` (or `chexbert.safetensors`) and the
bert-base-uncased tokenizer's `vocab.txt`, given as `--weights chexbert=FOLDER` or $CXRGEN_WEIGHTS/chexbert/.
Text handling as CheXbert's: whitespace collapsed, WordPiece with [CLS]/[SEP], at most 512 tokens
(the first 511 and [SEP]; truncations are counted).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import WeightsError
from ..weights import weights_root
from .base import Labeller

HEAD_ORDER = ("Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema", "Consolidation",
              "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
              "Support Devices", "No Finding")
# head output index → our label convention (1 positive, 0 negative, −1 uncertain, NaN not mentioned)
CLASS_VALUES = (np.nan, 1.0, 0.0, -1.0)
MAX_TOKENS = 512
SOURCE = "https://github.com/stanfordmlgroup/CheXbert (chexbert.pth, linked from its README)"


def find_folder(location: str | None) -> Path:
    fetched = weights_root() / "chexbert"  # where `weights fetch` puts chexbert.pth and BERT's vocab.txt
    where = location or (str(fetched) if fetched.is_dir() else None)
    hint = (f"F1-CheXbert needs CheXbert's weights: fetch them with `cxrgen-bench weights fetch --only chexbert`, or "
            f"download chexbert.pth from {SOURCE}, put it in a folder with bert-base-uncased's vocab.txt and pass "
            "--weights chexbert=FOLDER (or put the folder at $CXRGEN_WEIGHTS/chexbert). Without them, "
            "rrg[f1_labeller] runs offline with the rule-based labeller.")
    if not where:
        raise WeightsError(hint)
    folder = Path(where).expanduser()
    if folder.is_file():
        folder = folder.parent
    if not any((folder / f).is_file() for f in ("chexbert.safetensors", "chexbert.pth")):
        raise WeightsError(f"{folder}: no chexbert.safetensors or chexbert.pth. " + hint)
    if not (folder / "vocab.txt").is_file():
        raise WeightsError(f"{folder}: no vocab.txt (bert-base-uncased's tokenizer vocabulary). " + hint)
    return folder


def read_state_dict(folder: Path) -> dict[str, Any]:
    """CheXbert's tensors with the DataParallel prefix removed: safetensors, or the official .pth
    through the weights-only unpickler."""
    import torch

    if (folder / "chexbert.safetensors").is_file():
        from safetensors.torch import load_file

        state = load_file(str(folder / "chexbert.safetensors"))
    else:
        try:
            raw = torch.load(str(folder / "chexbert.pth"), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 — the weights-only unpickler refuses anything but tensors
            raise WeightsError(f"{folder / 'chexbert.pth'}: not readable as a weights-only checkpoint ({exc}); "
                               "is it the official file?") from None
        state = raw.get("model_state_dict", raw) if isinstance(raw, dict) else None
        if not isinstance(state, dict):
            raise WeightsError(f"{folder / 'chexbert.pth'}: no model_state_dict inside")
    return {re.sub(r"^module\.", "", k): v for k, v in state.items()}


def build_model(state: dict[str, Any], where: str) -> Any:
    import torch
    from torch import nn
    from transformers import BertConfig, BertModel

    try:
        vocab, hidden = state["bert.embeddings.word_embeddings.weight"].shape
        layers = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"bert\.encoder\.layer\.(\d+)\.", k)))
        config = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                            num_attention_heads=max(1, hidden // 64),
                            intermediate_size=state["bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
                            max_position_embeddings=state["bert.embeddings.position_embeddings.weight"].shape[0])
    except (KeyError, ValueError) as exc:
        raise WeightsError(f"{where}: not CheXbert's layout (bert.* and linear_heads.*): {exc}") from None

    class CheXbertNet(nn.Module):
        def __init__(self):
            super().__init__()
            # CheXbert's encoder came from BertModel.from_pretrained, pooler included (its file holds
            # bert.pooler.*, unused by the heads); a file without one is read as well
            self.bert = BertModel(config, add_pooling_layer="bert.pooler.dense.weight" in state)
            self.linear_heads = nn.ModuleList([nn.Linear(hidden, 4) for _ in range(13)] + [nn.Linear(hidden, 2)])

        def cls(self, ids, mask):
            return self.bert(ids, attention_mask=mask)[0][:, 0]

        def forward(self, ids, mask):
            cls = self.cls(ids, mask)
            return [head(cls) for head in self.linear_heads]

    net = CheXbertNet()
    own = {k for k in net.state_dict() if not k.endswith("position_ids")}
    given = {k for k in state if not k.endswith("position_ids")}
    if own != given:
        raise WeightsError(f"{where}: weights do not fit CheXbert; missing {sorted(own - given)[:3]}, "
                           f"unexpected {sorted(given - own)[:3]}")
    net.load_state_dict({k: v for k, v in state.items() if not k.endswith("position_ids")}, strict=False)
    return net.eval().to(torch.float32)


class CheXbertLabeller(Labeller):
    name = "chexbert"

    def __init__(self, location: str | None = None, **kwargs: Any):
        super().__init__(location, **kwargs)
        from ..folders import folder_sha256

        self.folder = find_folder(location)
        weights = "chexbert.safetensors" if (self.folder / "chexbert.safetensors").is_file() else "chexbert.pth"
        self.provenance = {"path": str(self.folder / weights), "source": SOURCE,
                           "format": "safetensors" if weights.endswith("safetensors") else "pickle (weights-only)",
                           "sha256": folder_sha256(self.folder)}
        self.truncated = 0

    def load(self) -> Any:
        from transformers import BertTokenizer

        net = build_model(read_state_dict(self.folder), str(self.folder)).to(self.device)
        return net, BertTokenizer(str(self.folder / "vocab.txt"), do_lower_case=True)

    def _batches(self, texts: list[str]) -> Any:
        """(first row, token ids, attention mask) per batch of 16, tokenised as CheXbert does."""
        import torch

        net, tokenizer = self.model
        for start in range(0, len(texts), 16):
            batch = [" ".join(t.split()) for t in texts[start:start + 16]]
            ids = [tokenizer.encode(t, add_special_tokens=True) for t in batch]
            self.truncated += sum(len(i) > MAX_TOKENS for i in ids)
            ids = [i[:MAX_TOKENS - 1] + [tokenizer.sep_token_id] if len(i) > MAX_TOKENS else i for i in ids]
            width = max(len(i) for i in ids)
            tokens = torch.tensor([i + [tokenizer.pad_token_id] * (width - len(i)) for i in ids], device=self.device)
            mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids], device=self.device)
            yield start, tokens, mask

    def annotate(self, texts: list[str]) -> np.ndarray:
        import torch

        net, _ = self.model
        out = np.full((len(texts), len(self.classes)), np.nan, dtype=np.float32)
        columns = [self.classes.index(c) for c in HEAD_ORDER]
        for start, tokens, mask in self._batches(texts):
            with torch.inference_mode():
                heads = net(tokens, mask)
            for h, (col, logits) in enumerate(zip(columns, heads)):
                picked = logits.argmax(dim=1).cpu().numpy()
                out[start:start + len(tokens), col] = [CLASS_VALUES[p] for p in picked]
        return out

    def embeddings(self, texts: list[str]) -> np.ndarray:
        """(n, hidden) float64: the encoder's last-layer [CLS] state of each text, the vector the heads read
        (CXR-Report-Metric's CheXbert `encode.py`, whose cosine is RadCliQ's s_emb)."""
        import torch

        net, _ = self.model
        rows = []
        for _, tokens, mask in self._batches(texts):
            with torch.inference_mode():
                rows.append(net.cls(tokens, mask).double().cpu().numpy())
        return np.concatenate(rows) if rows else np.zeros((0, 0))
