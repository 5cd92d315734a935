"""Generic image encoders a profile names under its own names (`kind: open-clip`, `kind: transformers`):
random weights saved in each library's own format load through the real code and compute what the
library's own route computes on the same picture; unsafe or incomplete folders are refused by name;
a derived profile plugs one into retrieval and alignment end to end."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

import cxrgen_bench
from cxrgen_bench.errors import InputError, WeightsError
from cxrgen_bench.models.image import build_backbone

TINY_OPEN_CLIP = {
    "model_cfg": {"embed_dim": 16,
                  "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
                  "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}},
    "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "interpolation": "bilinear"},
}
WORDS = ["cardiomegaly", "edema", "left", "right", "pleural", "effusion", "no", "acute", "findings", "."]


def picture(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((70, 60)).astype(np.float32)


def rgb(image: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)).convert("RGB")


def pil_processor(folder):
    """The library's PIL ("slow") image processor: what transformers 4 ran by default, and the peers with it
    (tests/test_image_processors.py)."""
    import transformers

    major = int(transformers.__version__.split(".")[0])
    return transformers.AutoImageProcessor.from_pretrained(str(folder), **({"backend": "pil"} if major >= 5 else
                                                                           {"use_fast": False}))


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory):
    """open_clip's hub format (BiomedCLIP's layout): open_clip_config.json + open_clip_model.safetensors."""
    import open_clip
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("tiny-open-clip")
    (folder / "open_clip_config.json").write_text(json.dumps(TINY_OPEN_CLIP))
    torch.manual_seed(0)
    model = open_clip.create_model(f"local-dir:{folder}", load_weights=False)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder


def test_open_clip_hub_folder_matches_open_clips_own_route(hub_folder):
    import open_clip

    net = build_backbone("tiny-clip", {"kind": "open-clip", "folder": str(hub_folder)})
    assert net.name == "tiny-clip" and net.layers == {"image_embeds": 16} and net.provenance["format"] == "safetensors"
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{hub_folder}")  # loads its weights
    model.eval()
    images = [picture(0), picture(1)]
    ours = net.features([net.preprocess(im, "open-clip") for im in images], "image_embeds")
    with torch.no_grad():
        theirs = model.encode_image(torch.stack([preprocess(rgb(im)) for im in images])).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    texts = ["Cardiomegaly.", "Left pleural effusion."]
    tower = net.text_tower()
    embedded, truncated = tower.embed(texts, "model-specific")
    with torch.no_grad():
        expected = model.encode_text(open_clip.get_tokenizer(f"local-dir:{hub_folder}")(texts)).numpy()
    np.testing.assert_allclose(embedded, expected, rtol=1e-5, atol=1e-5)
    assert truncated == [False, False] and tower.provenance["sha256"] == net.provenance["sha256"]


def test_open_clip_reads_a_dataparallel_state_dict_weights_only(hub_folder, tmp_path):
    """CheXzero-style files: torch.save of a DataParallel model's state dict (`module.` keys)."""
    from safetensors.torch import load_file

    folder = tmp_path / "prefixed"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text((hub_folder / "open_clip_config.json").read_text())
    state = load_file(str(hub_folder / "open_clip_model.safetensors"))
    torch.save({f"module.{k}": v for k, v in state.items()}, folder / "open_clip_pytorch_model.bin")
    plain = build_backbone("a", {"kind": "open-clip", "folder": str(hub_folder)})
    prefixed = build_backbone("b", {"kind": "open-clip"}, weights=str(folder))  # --weights b=FOLDER
    x = [plain.preprocess(picture(), "open-clip")]
    np.testing.assert_allclose(prefixed.features(x, "image_embeds"), plain.features(x, "image_embeds"), atol=1e-6)
    assert prefixed.provenance["format"] == "torch-zip"  # read weights-only: no code from the file runs
    # `weights convert` writes the safetensors file a hub folder is read from first; `weights where` names folders
    from cxrgen_bench.cli import main
    from cxrgen_bench.models.conversion import convert
    from cxrgen_bench.profiles import get_profile

    profile = tmp_path / "p.yaml"
    profile.write_text(f"extends: roentgen2022\nname: p\nversion: '1'\nbackbones:\n  b: {{kind: open-clip, "
                       f"folder: '{folder}'}}\n  d: {{kind: transformers}}\n")
    assert convert("b", folder, get_profile(profile)) == folder / "open_clip_model.safetensors"
    converted = build_backbone("b", {"kind": "open-clip", "folder": str(folder)})
    assert converted.provenance["format"] == "safetensors"
    np.testing.assert_allclose(converted.features(x, "image_embeds"), plain.features(x, "image_embeds"), atol=1e-6)
    with pytest.raises(InputError, match="save_pretrained"):
        convert("d", folder, get_profile(profile))
    assert main(["weights", "where", "b", "--profile", str(profile)]) == 0


def test_open_clip_bad_blocks_are_named(hub_folder, tmp_path):
    with pytest.raises(InputError, match="needs `architecture:`"):
        build_backbone("x", {"kind": "open-clip"})
    with pytest.raises(InputError, match="no architecture 'ViT-Nope'"):
        build_backbone("x", {"kind": "open-clip", "architecture": "ViT-Nope"})
    with pytest.raises(InputError, match="open_clip_config.json not found"):
        build_backbone("x", {"kind": "open-clip", "folder": str(tmp_path)})
    (tmp_path / "open_clip_config.json").write_text((hub_folder / "open_clip_config.json").read_text())
    with pytest.raises(InputError, match="but no weights"):
        build_backbone("x", {"kind": "open-clip", "folder": str(tmp_path)})
    with pytest.raises(WeightsError, match="x.safetensors|--weights x="):  # a built-in architecture, no file
        build_backbone("x", {"kind": "open-clip", "architecture": "ViT-B-32-quickgelu"})


def save_tokenizer(folder):
    from transformers import BertTokenizerFast

    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS) + "\n")
    BertTokenizerFast(vocab_file=str(vocab), model_max_length=24).save_pretrained(str(folder))


@pytest.fixture(scope="module")
def dinov2_folder(tmp_path_factory):
    """RAD-DINO's layout: a transformers Dinov2Model folder with its BitImageProcessor."""
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    folder = tmp_path_factory.mktemp("tiny-dino")
    torch.manual_seed(0)
    config = Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                          image_size=56, patch_size=14)
    Dinov2Model(config).save_pretrained(str(folder), safe_serialization=True)
    BitImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 56, "width": 56},
                      image_mean=[0.53, 0.53, 0.53], image_std=[0.26, 0.26, 0.26]).save_pretrained(str(folder))
    return folder


def test_transformers_vision_folder_matches_the_librarys_route(dinov2_folder):
    from transformers import AutoModel

    net = build_backbone("rad-dino", {"kind": "transformers"}, weights=str(dinov2_folder))
    assert net.layers == {"pooled": 32, "cls": 32} and net.provenance["format"] == "safetensors"
    images = [picture(0), picture(1)]
    x = [net.preprocess(im, "processor") for im in images]
    assert x[0].shape == (3, 56, 56)
    processor = pil_processor(dinov2_folder)
    model = AutoModel.from_pretrained(str(dinov2_folder)).eval()
    with torch.no_grad():
        out = model(**processor(images=[rgb(im) for im in images], return_tensors="pt"))
    np.testing.assert_allclose(net.features(x, "pooled"), out.pooler_output.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(net.features(x, "cls"), out.last_hidden_state[:, 0].numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(InputError, match="image encoder only"):
        net.text_tower()


def test_transformers_vision_refuses_a_random_pooler_and_unsafe_folders(tmp_path):
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    folder = tmp_path / "vit"
    config = ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                       image_size=32, patch_size=16)
    ViTModel(config, add_pooling_layer=False).save_pretrained(str(folder), safe_serialization=True)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(str(folder))
    net = build_backbone("vit", {"kind": "transformers", "folder": str(folder)})
    x = [net.preprocess(picture(), "processor")]
    assert net.features(x, "cls").shape == (1, 32)
    with pytest.raises(InputError, match="no weights for the model's pooler"):
        net.features(x, "pooled")
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    (folder / "preprocessor_config.json").write_text(json.dumps({**processor, "auto_map": {"x": "y.Z"}}))
    with pytest.raises(WeightsError, match="auto_map"):
        build_backbone("vit", {"kind": "transformers", "folder": str(folder)})
    (folder / "preprocessor_config.json").unlink()
    with pytest.raises(InputError, match="preprocessor_config.json: not found"):
        build_backbone("vit", {"kind": "transformers", "folder": str(folder)})
    with pytest.raises(WeightsError, match="needs a model folder"):
        build_backbone("vit", {"kind": "transformers"})
    pickled = tmp_path / "pickled"  # the old transformers layout: config.json + pytorch_model.bin
    pickled.mkdir()
    (pickled / "config.json").write_text((folder / "config.json").read_text())
    torch.save(ViTModel(config).state_dict(), pickled / "pytorch_model.bin")
    with pytest.raises(WeightsError, match="pickle weights"):
        build_backbone("vit", {"kind": "transformers", "folder": str(pickled)})


@pytest.fixture(scope="module")
def hf_clip_folder(tmp_path_factory):
    """A transformers image–text (CLIP) folder with its tokenizer and image processor."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    folder = tmp_path_factory.mktemp("tiny-hf-clip")
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={"vocab_size": 5 + len(WORDS), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "max_position_embeddings": 24, "eos_token_id": 3,
                     "pad_token_id": 0, "bos_token_id": 2},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 16},
        projection_dim=16)
    CLIPModel(config).save_pretrained(str(folder), safe_serialization=True)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(str(folder))
    save_tokenizer(folder)
    return folder


def test_transformers_image_text_folder_shares_one_space(hf_clip_folder):
    from transformers import AutoModel, AutoTokenizer

    from cxrgen_bench.models.transformers_folders import features_of

    net = build_backbone("my-clip", {"kind": "transformers", "folder": str(hf_clip_folder)})
    assert net.layers == {"image_embeds": 16} and net.shared_layer == "image_embeds"
    model = AutoModel.from_pretrained(str(hf_clip_folder)).eval()
    processor = pil_processor(hf_clip_folder)
    tokenizer = AutoTokenizer.from_pretrained(str(hf_clip_folder))
    x = [net.preprocess(picture(), "processor")]
    texts = ["cardiomegaly .", "left pleural effusion ."]
    with torch.no_grad():
        image = features_of(model.get_image_features(**processor(images=[rgb(picture())], return_tensors="pt")))
        text = features_of(model.get_text_features(**tokenizer(texts, padding=True, return_tensors="pt")))
    np.testing.assert_allclose(net.features(x, "image_embeds"), image.numpy(), rtol=1e-5, atol=1e-5)
    tower = net.text_tower()
    embedded, truncated = tower.embed(texts + [" ".join(["edema"] * 40)], "model-specific")
    np.testing.assert_allclose(embedded[:2], text.numpy(), rtol=1e-5, atol=1e-5)
    assert truncated == [False, False, True]  # 40 words + 2 special tokens > the 24 positions


def test_a_derived_profile_plugs_generic_encoders_into_retrieval(hub_folder, dinov2_folder, synthetic_sets, tmp_path):
    rows = ["prompt_id,text,Cardiomegaly,Edema,Pleural Effusion"]
    findings = ["Cardiomegaly.", "Pulmonary edema.", "Left pleural effusion."]
    for i in range(6):
        rows.append(f"p{i},{findings[i % 3]},{','.join('1' if j == i % 3 else '0' for j in range(3))}")
    prompts = tmp_path / "prompts.csv"
    prompts.write_text("\n".join(rows) + "\n")
    selection = ("classes: [Cardiomegaly, Edema, Pleural Effusion], queries: 10, candidates: 10, "
                 "exclude_query_prompts: false, ks: [1, 3], seed: 0")
    profile = tmp_path / "mine.yaml"
    profile.write_text(
        "extends: roentgen2022\nname: mine\nversion: '1'\n"
        "backbones:\n"
        f"  rad-dino: {{kind: transformers, folder: '{dinov2_folder}', preprocessing: processor, layer: pooled}}\n"
        f"  biomedclip: {{kind: open-clip, folder: '{hub_folder}', preprocessing: open-clip, layer: image_embeds}}\n"
        "metrics:\n"
        f"  i2i_precision: {{backbone: rad-dino, {selection}}}\n"
        f"  i2t_precision: {{pair: biomedclip, {selection}}}\n"
        "  alignment: {pair: biomedclip, ks: [1, 3]}\n")
    result = cxrgen_bench.score(images=synthetic_sets["gen"], reference=synthetic_sets["ref"], prompts=prompts,
                                metrics="i2i_precision,i2t_precision,alignment", profile=profile,
                                cache_dir=tmp_path / "c")
    assert result["status"] == "complete", {k: v.get("error") for k, v in result["metrics"].items()}
    assert {"rad-dino", "biomedclip", "text_tower"} <= set(result["weights"])
    assert result["weights"]["biomedclip"]["architecture"]["embed_dim"] == 16
    assert 0.0 <= result["metrics"]["i2i_precision[1]"]["value"] <= 1.0


def test_distribution_metrics_run_on_rad_dino_through_weights(dinov2_folder, synthetic_sets, tmp_path):
    """roentgen2022 names rad-dino (kind transformers): --weights rad-dino=FOLDER plugs a Dinov2 folder into
    every per-backbone metric; without the folder the entry says what to pass."""
    metrics = "fid[rad-dino],kid[rad-dino],cmmd[rad-dino],fd_infinity[rad-dino],prdc_coverage[rad-dino]"
    result = cxrgen_bench.score(images=synthetic_sets["gen"], reference=synthetic_sets["ref"], metrics=metrics,
                                weights={"rad-dino": str(dinov2_folder)}, cache_dir=tmp_path / "c")
    assert result["status"] == "complete", {k: v.get("error") for k, v in result["metrics"].items()}
    assert result["metrics"]["kid[rad-dino]"]["details"]["subset_size"] == 6  # clipped to the 6 prompts
    assert result["metrics"]["fd_infinity[rad-dino]"]["details"]["sizes"] == [2, 3, 4, 5, 6]
    missing = cxrgen_bench.score(images=synthetic_sets["gen"], reference=synthetic_sets["ref"], metrics="kid[rad-dino]",
                                 cache_dir=tmp_path / "c")
    assert "--weights rad-dino=FOLDER" in missing["metrics"]["kid[rad-dino]"]["error"]
