"""BioViL-T's two towers from a folder laid out as microsoft/BiomedVLP-BioViL-T is (the image model's
state dict as hi-ml-multimodal saves it, CXR-BERT as transformers saves it, its config declaring the
remote code we never run), with random weights from hi-ml-multimodal's own classes (a tiny CXR-BERT
config), compared with hi-ml-multimodal's inference engines — what CheXGenBench calls — on real
radiographs."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cxrgen_bench.data.images import read_image
from cxrgen_bench.errors import WeightsError, WeightsNotFound
from cxrgen_bench.models.image import build_backbone
from cxrgen_bench.profiles import get_profile

PROFILE = get_profile("chexgenbench2025")
WORDS = ["no", "acute", "cardio", "##pul", "##monary", "process", "pleural", "effusion", "small", "left", "right",
         "heart", "size", "normal", "lungs", "clear", "there", "is", "a", "of", "the", "and", "pneumothorax", "."]


class Transformers4Tokenizer:
    """hi-ml-multimodal 0.2.2 calls `batch_encode_plus`, which transformers 5 removed; the call it stood for."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)

    def batch_encode_plus(self, batch_text_or_text_pairs, **kwargs):
        return self.tokenizer(batch_text_or_text_pairs, **kwargs)


@pytest.fixture(scope="module")
def biovil_t_folder(tmp_path_factory):
    himl_image = pytest.importorskip("health_multimodal.image.model.model")
    himl_text = pytest.importorskip("health_multimodal.text.model")
    from transformers import BertTokenizer

    folder = tmp_path_factory.mktemp("BiomedVLP-BioViL-T")
    torch.manual_seed(0)
    image_model = himl_image.ImageModel(img_encoder_type="resnet50_multi_image", joint_feature_size=128).eval()
    for name, buf in image_model.named_buffers():  # batch-norm statistics that are not the identity
        if name.endswith("running_var"):
            buf.uniform_(0.5, 1.5)
        elif name.endswith("running_mean"):
            buf.normal_(0, 0.1)
    torch.save(image_model.state_dict(), folder / "biovil_t_image_model_proj_size_128.pt")
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS) + "\n")
    tokenizer = BertTokenizer(str(folder / "vocab.txt"))
    tokenizer.save_pretrained(str(folder))
    config = himl_text.CXRBertConfig(vocab_size=len(WORDS) + 5, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=37, projection_size=128,
                                     max_position_embeddings=64)
    text_model = himl_text.CXRBertModel(config).eval()
    text_model.save_pretrained(str(folder), safe_serialization=True)
    data = json.loads((folder / "config.json").read_text())
    data["auto_map"] = {"AutoModel": "modeling_cxrbert.CXRBertModel"}  # as the official config: never followed
    (folder / "config.json").write_text(json.dumps(data))
    return folder, image_model, tokenizer, text_model


def test_image_tower_equals_hi_ml_multimodal(biovil_t_folder, real_cxr_jpegs):
    from health_multimodal.image import ImageInferenceEngine
    from health_multimodal.image.data.transforms import create_chest_xray_transform_for_inference

    folder, image_model, _, _ = biovil_t_folder
    net = build_backbone("biovil-t", PROFILE.backbone("biovil-t"), weights=str(folder))
    engine = ImageInferenceEngine(image_model, create_chest_xray_transform_for_inference(512, 448))
    paths = [real_cxr_jpegs[0], real_cxr_jpegs[9]]  # a 2k and a 1k radiograph of different aspect
    for path in paths:
        x = net.preprocess(net.input_image(read_image(path), "biovil-t-448"), "biovil-t-448")
        expected, _ = engine.load_and_transform_input_image(path, engine.transform)
        np.testing.assert_array_equal(x, expected[0].numpy())  # hi-ml's load_image and transform, exactly
    ours = net.features([net.preprocess(net.input_image(read_image(p), "biovil-t-448"), "biovil-t-448")
                         for p in paths], "image_embeds")
    theirs = np.stack([engine.get_projected_global_embedding(p).numpy() for p in paths])
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    assert net.provenance["format"] == "torch-zip" and ours.shape == (2, 128)


def test_text_tower_equals_hi_ml_multimodal(biovil_t_folder):
    from health_multimodal.text.inference_engine import TextInferenceEngine

    folder, _, tokenizer, text_model = biovil_t_folder
    net = build_backbone("biovil-t", PROFILE.backbone("biovil-t"), weights=str(folder))
    tower = net.text_tower()
    prompts = ["Small left pleural effusion.", "No acute cardiopulmonary process", "Normal heart size. Lungs clear!"]
    ours, truncated = tower.embed(prompts, "model-specific")
    engine = TextInferenceEngine(tokenizer=Transformers4Tokenizer(tokenizer), text_model=text_model)
    theirs = engine.get_embeddings_from_prompt(prompts, normalize=False, verbose=False).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    assert truncated == [False, False, False]
    assert "auto_map" not in tower.config  # read as data; the remote-code hook is dropped, never followed


def test_alignment_score_equals_the_engine_chexgenbench_calls(biovil_t_folder, real_cxr_jpegs):
    from health_multimodal.image import ImageInferenceEngine
    from health_multimodal.image.data.transforms import create_chest_xray_transform_for_inference
    from health_multimodal.text.inference_engine import TextInferenceEngine
    from health_multimodal.vlp import ImageTextInferenceEngine

    folder, image_model, tokenizer, text_model = biovil_t_folder
    net = build_backbone("biovil-t", PROFILE.backbone("biovil-t"), weights=str(folder))
    path, prompt = real_cxr_jpegs[9], "Right pneumothorax."
    image = net.features([net.preprocess(net.input_image(read_image(path), "biovil-t-448"), "biovil-t-448")],
                         "image_embeds")[0]
    text = net.text_tower().embed([prompt], "model-specific")[0][0]
    ours = float(image @ text / np.linalg.norm(image) / np.linalg.norm(text))
    engine = ImageTextInferenceEngine(
        image_inference_engine=ImageInferenceEngine(image_model, create_chest_xray_transform_for_inference(512, 448)),
        text_inference_engine=TextInferenceEngine(tokenizer=Transformers4Tokenizer(tokenizer), text_model=text_model))
    assert ours == pytest.approx(engine.get_similarity_score_from_raw_data(path, prompt), abs=1e-5)


def test_missing_biovil_t_weights_name_the_files():
    with pytest.raises(WeightsNotFound) as err:
        build_backbone("biovil-t", PROFILE.backbone("biovil-t"))
    assert "biovil_t_image_model_proj_size_128.pt" in str(err.value) and "--weights biovil-t=" in str(err.value)


def test_a_folder_without_the_image_model_is_refused(tmp_path):
    with pytest.raises(WeightsError, match="biovil_t_image_model_proj_size_128"):
        build_backbone("biovil-t", PROFILE.backbone("biovil-t"), weights=str(tmp_path))


def test_biovil_image_weights_without_the_temporal_pooler_are_refused(biovil_t_folder, tmp_path):
    folder, image_model, _, _ = biovil_t_folder
    state = {k: v for k, v in image_model.state_dict().items() if not k.startswith("encoder.vit_pooler.")}
    torch.save(state, tmp_path / "biovil_t_image_model_proj_size_128.pt")
    net = build_backbone("biovil-t", PROFILE.backbone("biovil-t"), weights=str(tmp_path))
    with pytest.raises(WeightsError, match="temporal pooler"):
        net.model
