"""BioViL-T (Bannur et al. 2023, microsoft/BiomedVLP-BioViL-T): the image–text model CheXGenBench scores
alignment with (`metrics/img_text_alignment_scores.py`, through hi-ml-multimodal's inference engines).

Both towers come from one folder, a snapshot of the microsoft/BiomedVLP-BioViL-T repository
(``--weights biovil-t=FOLDER``):
- the image tower, ``biovil_t_image_model_proj_size_128.pt`` (hi-ml-multimodal's `ImageModel` state dict:
  a ResNet-50 trunk, a 1×1 convolution to 256 channels, the learned "no prior image" embedding, the
  temporal ViT pooler and a 1×1-convolution projector to 128-d), read weights-only, or the safetensors
  `weights convert biovil-t` writes beside it;
- the text tower, CXR-BERT: ``config.json`` (its numbers read as data; its `auto_map`, the remote-code
  hook, is never followed), ``model.safetensors`` (or ``pytorch_model.bin`` read weights-only) and
  ``vocab.txt``: a BERT whose [CLS] state goes through a projection head (dense → GELU → LayerNorm →
  dense) into the 128-d joint space.

A single image never reaches the temporal pooler (hi-ml-multimodal concatenates the missing-prior
embedding instead), so its weights are checked to be present and then set aside. The image embedding
is the mean over the 14×14 grid of projected patch embeddings, L2-normalised.

Preprocessing ``biovil-t-448`` is hi-ml-multimodal's inference path: the file's values stretched to
0–255 and cast to uint8 (truncating), grayscale, shorter side to 512 (torchvision bilinear), centre crop
448, ÷ 255, three channels. The text tower strips trailing "!?." from each prompt, as its inference
engine does, and truncates at 512 tokens (hi-ml-multimodal refuses longer texts; we count them).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from PIL import Image
from torch import nn

from ...errors import InputError, WeightsError
from ..image.base import Backbone
from ..text.base import TextEncoder
from ..transformers_folders import import_transformers, quiet_transformers, read_config, require_tokenizer
from ..weights import ResolvedWeights, load_state_dict, load_strict, sniff_format

IMAGE_FILE = "biovil_t_image_model_proj_size_128.pt"
IMAGE_SAFETENSORS = "biovil_t_image_model_proj_size_128.safetensors"
TEXT_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
PRIOR_PATH = "encoder.vit_pooler."  # the temporal pooler: used only with a prior image
TEXT_FILES = ("config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json")
NOT_BERT_CONFIG = ("auto_map", "architectures", "model_type", "transformers_version", "projection_size", "torch_dtype",
                   "dtype")
RESIZE, CROP, JOINT = 512, 448, 128


class BioViLTImageNet(nn.Module):
    """hi-ml-multimodal's single-image path of BioViL-T, under its state-dict names (prior path aside)."""

    def __init__(self):
        super().__init__()
        import torchvision

        self.encoder = nn.Module()
        self.encoder.encoder = torchvision.models.resnet50(weights=None)
        self.encoder.backbone_to_vit = nn.Conv2d(2048, 256, kernel_size=1, bias=False)
        self.encoder.missing_previous_emb = nn.Parameter(torch.zeros(1, 256, 1, 1))
        self.projector = nn.Module()
        self.projector.model = nn.Sequential(nn.Conv2d(512, JOINT, 1, bias=False), nn.BatchNorm2d(JOINT),
                                             nn.ReLU(inplace=True), nn.Conv2d(JOINT, JOINT, 1, bias=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.encoder.encoder
        x = r.maxpool(r.relu(r.bn1(r.conv1(x))))
        patches = self.encoder.backbone_to_vit(r.layer4(r.layer3(r.layer2(r.layer1(x)))))
        b, _, h, w = patches.shape
        fused = torch.cat([patches, self.encoder.missing_previous_emb.expand(b, -1, h, w)], dim=1)
        pooled = self.projector.model(fused).mean(dim=(2, 3))
        return nn.functional.normalize(pooled, dim=1)


def biovil_t_448(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] → (3, 448, 448) float32, hi-ml-multimodal's `load_image` and transform."""
    from torchvision.transforms import functional as TF

    values = np.clip(np.rint(np.asarray(rgb, np.float64) * 255.0), 0, 255)  # the file's 8-bit values
    values = values - values.min()
    top = values.max()
    stretched = (values / top * 255.0 if top > 0 else values).astype(np.uint8)  # remap_to_uint8: truncates
    gray = Image.fromarray(stretched, "RGB").convert("L")
    gray = TF.center_crop(TF.resize(gray, RESIZE, interpolation=TF.InterpolationMode.BILINEAR), [CROP, CROP])
    x = np.asarray(gray, np.float32)[None] / 255.0
    return np.ascontiguousarray(np.repeat(x, 3, axis=0))


class BioViLT(Backbone):
    name = "biovil-t"
    layers = {"image_embeds": JOINT}
    preprocessings = ("biovil-t-448",)
    colour_preprocessings = frozenset({"biovil-t-448"})  # hi-ml reads a colour file's channels, then grayscale
    shared_layer = "image_embeds"
    channels_last = True

    def __init__(self, profile_cfg: Mapping[str, Any], weights: str | None = None, **kwargs: Any):
        image_file = weights
        given = Path(weights).expanduser() if weights else None
        if given is not None and given.is_dir():
            found = [given / f for f in (IMAGE_SAFETENSORS, IMAGE_FILE) if (given / f).is_file()]
            if not found:
                raise WeightsError(f"backbone biovil-t: {given} holds neither {IMAGE_SAFETENSORS} nor {IMAGE_FILE} "
                                   "(a snapshot of microsoft/BiomedVLP-BioViL-T has the latter)")
            image_file = str(found[0])
        super().__init__(profile_cfg, weights=image_file, **kwargs)
        where = self.resolved.path.parent if self.resolved is not None else None
        text = self.cfg.get("text_folder")
        self.text_folder = Path(text).expanduser() if text else (given if given is not None and given.is_dir()
                                                                   else where)

    def _adapt_keys(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if not any(k.startswith(PRIOR_PATH) for k in state_dict):
            raise WeightsError("backbone biovil-t: the image weights lack the temporal pooler (encoder.vit_pooler.*): "
                               "not BioViL-T's image model (BioViL's, without it, is another model)")
        return {k: v for k, v in state_dict.items() if not k.startswith(PRIOR_PATH)}

    def build(self, state_dict: dict[str, torch.Tensor], where: str) -> torch.nn.Module:
        model = BioViLTImageNet()
        load_strict(model, state_dict, where)
        return model

    def preprocess(self, image: np.ndarray, preprocessing: str = "biovil-t-448") -> np.ndarray:
        return biovil_t_448(image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=-1))

    def forward(self, batch: torch.Tensor, layer: str = "image_embeds") -> torch.Tensor:
        return self.model(batch)

    def text_tower(self) -> Any:
        if self.text_folder is None:
            raise WeightsError("backbone biovil-t: its text tower (CXR-BERT) is read from the BioViL-T folder: pass "
                               "--weights biovil-t=FOLDER (a snapshot of microsoft/BiomedVLP-BioViL-T)")
        return BioViLTText(self, self.text_folder)


class BertProjectionHead(nn.Module):
    """CXR-BERT's [CLS] projection into the joint space (state-dict names of `cls_projection_head`)."""

    def __init__(self, hidden: int, projection: int):
        super().__init__()
        self.dense_to_hidden = nn.Linear(hidden, projection)
        self.LayerNorm = nn.LayerNorm(projection, eps=1e-12)
        self.dense_to_output = nn.Linear(projection, projection)

    def forward(self, cls: torch.Tensor) -> torch.Tensor:
        return self.dense_to_output(self.LayerNorm(nn.functional.gelu(self.dense_to_hidden(cls))))


class BioViLTText(TextEncoder):
    """CXR-BERT of BioViL-T: the projected [CLS] embedding (BioViL-T's own sentence embedding)."""

    name = "biovil-t-text"
    extractions = ("model-specific",)
    default_extraction = "model-specific"

    def __init__(self, backbone: BioViLT, folder: Path):
        super().__init__(device=str(backbone.device), allow_pickle=backbone.allow_pickle)
        self.backbone, self.folder = backbone, Path(folder)
        self.config = {k: v for k, v in read_config(self.folder).items() if k != "auto_map"}  # data only
        if "projection_size" not in self.config:
            raise InputError(f"{self.folder / 'config.json'}: no projection_size: not CXR-BERT's config (BioViL-T's "
                             "text tower projects its [CLS] state into the joint space)")
        require_tokenizer(self.folder)
        self.weights_file = next((self.folder / f for f in TEXT_WEIGHTS if (self.folder / f).is_file()), None)
        if self.weights_file is None:
            raise WeightsError(f"{self.folder}: no text weights ({' or '.join(TEXT_WEIGHTS)}) for BioViL-T's CXR-BERT")
        self.max_length = int(self.config.get("max_position_embeddings") or 512)
        text_files = [self.weights_file] + [self.folder / f for f in TEXT_FILES if (self.folder / f).is_file()]
        self.provenance = {"path": str(self.folder), "tower": "text", "image_backbone": backbone.name,
                           "sha256": _files_sha256(text_files), "format": sniff_format(self.weights_file)}

    def key(self, **settings: Any) -> str:
        return super().key(backbone=self.backbone.name, **settings)

    def load(self) -> Any:
        transformers = import_transformers()
        numbers = {k: v for k, v in self.config.items() if k not in NOT_BERT_CONFIG}
        with quiet_transformers():
            bert = transformers.BertModel(transformers.BertConfig(**numbers), add_pooling_layer=False)
            tokenizer = transformers.BertTokenizer.from_pretrained(str(self.folder), local_files_only=True)
        head = BertProjectionHead(int(numbers.get("hidden_size", 768)), int(self.config["projection_size"]))
        resolved = ResolvedWeights(self.weights_file, self.provenance["sha256"], "explicit path", "biovil-t text tower")
        state, _ = load_state_dict(resolved, self.allow_pickle)
        where = str(self.weights_file)
        own_bert = bert.state_dict()
        parts: dict[str, dict[str, torch.Tensor]] = {"bert": {}, "head": {}}
        unexpected = []
        for key, value in state.items():
            if key.startswith("bert."):
                if key[5:] in own_bert or not key.endswith("position_ids"):  # position ids: a buffer some versions save
                    parts["bert"][key[5:]] = value
            elif key.startswith("cls_projection_head."):
                parts["head"][key[len("cls_projection_head."):]] = value
            elif not key.startswith("cls.predictions."):  # the masked-LM head: not used for embeddings
                unexpected.append(key)
        if unexpected:
            raise WeightsError(f"{where}: keys CXR-BERT does not have, e.g. {unexpected[:3]}: is this BioViL-T's text model?")
        load_strict(bert, parts["bert"], where)
        load_strict(head, parts["head"], where + " (cls_projection_head)")
        return tokenizer, bert.eval().to(self.device), head.eval().to(self.device)

    def encode(self, texts: list[str], extraction: str) -> tuple[np.ndarray, list[bool]]:
        tokenizer, bert, head = self.model
        texts = [t.rstrip("!?.") for t in texts]  # hi-ml-multimodal's TextInput strips trailing punctuation
        with quiet_transformers():
            lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]]
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), 64):
                batch = tokenizer(texts[start:start + 64], padding="longest", truncation=True,
                                  max_length=self.max_length, return_tensors="pt").to(self.device)
                hidden = bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
                out.append(head(hidden[:, 0]).float().cpu().numpy())
        return np.concatenate(out).astype(np.float32), [n > self.max_length for n in lengths]


def _files_sha256(paths: list[Path]) -> str:
    """One hash over the text tower's own files (name and content): its weights, config and vocabulary."""
    import hashlib

    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode())
        with open(path, "rb") as f:
            while block := f.read(1 << 22):
                h.update(block)
    return h.hexdigest()
