"""The retrieval models load from their official formats through the real code (random weights: no
published file can be downloaded here), compute what their definitions say, and the retrieval metrics
run end to end, with bad input named."""
import numpy as np
import pytest
import torch

import cxrgen_bench
from cxrgen_bench.functional import chexpert_f1
from cxrgen_bench.models.image import build_backbone
from cxrgen_bench.profiles import get_profile


@pytest.fixture(scope="module")
def convirt_vilmedic_file(tmp_path_factory):
    """ViLMedic's convirt checkpoint format: torch.save({"model": {visual.model.N.*, vis_proj.*, text side}})."""
    import torchvision

    torch.manual_seed(0)
    resnet = torchvision.models.resnet50(weights=None)
    visual = torch.nn.Sequential(*list(resnet.children())[:-1])
    state = {f"visual.model.{k}": v for k, v in visual.state_dict().items()}
    proj = torch.nn.Sequential(torch.nn.Linear(2048, 768), torch.nn.ReLU(), torch.nn.Linear(768, 768))
    state.update({f"vis_proj.{k}": v for k, v in proj.state_dict().items()})
    state["linguistic.model.embeddings.word_embeddings.weight"] = torch.randn(10, 4)  # the text side: ignored
    state["lin_proj.0.weight"] = torch.randn(768, 768)
    path = tmp_path_factory.mktemp("convirt") / "convirt-mimic.pth"
    torch.save({"model": state, "config": {"name": "convirt"}}, path)
    return path, visual, proj


@pytest.fixture(scope="module")
def cxr_repair_file(tmp_path_factory):
    """CXR-RePaiR's format: an OpenAI-CLIP ViT-B/32 state dict saved with torch.save."""
    import open_clip

    torch.manual_seed(1)
    model = open_clip.create_model("ViT-B-32-quickgelu", pretrained=None)
    path = tmp_path_factory.mktemp("repair") / "clip-imp-pretrained_128_6_after_4.pt"
    torch.save(model.state_dict(), path)
    return path, model.eval()


def test_convirt_loads_vilmedic_weights_and_computes_its_layers(convirt_vilmedic_file):
    path, visual, proj = convirt_vilmedic_file
    net = build_backbone("convirt-resnet50", get_profile("roentgen2022").backbone("convirt-resnet50"), weights=str(path))
    image = np.random.default_rng(0).random((300, 260)).astype(np.float32)
    x = net.preprocess(image, "convirt-224")
    assert x.shape == (3, 224, 224) and abs(float(x.mean()) - float(((image.mean() - 0.456) / 0.224))) < 0.2
    pooled = net.features([x], "pooled")
    with torch.no_grad():
        expected = visual.eval()(torch.from_numpy(x)[None]).flatten(1)
    np.testing.assert_allclose(pooled, expected.numpy(), rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        np.testing.assert_allclose(net.features([x], "projection"), proj(expected).numpy(), rtol=1e-4, atol=1e-4)
    assert net.provenance["format"] == "torch-zip"  # read weights-only: no code from the file runs


def test_cxr_repair_image_and_text_towers_share_one_space(cxr_repair_file):
    import open_clip

    path, model = cxr_repair_file
    net = build_backbone("cxr-repair", get_profile("roentgen2022").backbone("cxr-repair"), weights=str(path))
    assert net.shared_layer == "image_embeds"
    image = np.zeros((400, 200), np.float32)
    image[:, 50:150] = 1.0
    x = net.preprocess(image, "cxr-repair-320")
    assert x.shape == (3, 224, 224)
    # letterboxed on black, normalised by MIMIC's statistics: black is (0 − 101.49) / 83.44
    assert x[0, 112, 0] == pytest.approx((0 - 101.48761) / 83.43944, abs=1e-3)
    with torch.no_grad():
        expected_image = model.encode_image(torch.from_numpy(x)[None]).numpy()
    np.testing.assert_allclose(net.features([x], "image_embeds"), expected_image, rtol=1e-4, atol=1e-4)
    tower = net.text_tower()
    texts = ["Small left pleural effusion.", "No acute cardiopulmonary process."]
    ours, truncated = tower.embed(texts, "model-specific")
    with torch.no_grad():
        expected = model.encode_text(open_clip.get_tokenizer("ViT-B-32-quickgelu")(texts)).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)
    assert truncated == [False, False] and tower.weights_sha256 == net.weights_sha256
    # CheXzero ships the same architecture and preprocessing: a profile names it with `kind: cxr-repair`
    chexzero = build_backbone("chexzero", {"kind": "cxr-repair", "preprocessing": "cxr-repair-320",
                                           "layer": "image_embeds"}, weights=str(path))
    assert chexzero.name == "chexzero" and chexzero.extractor_key("cxr-repair-320", "image_embeds") != net.extractor_key(
        "cxr-repair-320", "image_embeds")
    np.testing.assert_allclose(chexzero.features([x], "image_embeds"), expected_image, rtol=1e-4, atol=1e-4)


def test_image_encoders_have_no_text_tower(xrv_random_weights):
    from cxrgen_bench.errors import InputError

    net = build_backbone("xrv-densenet121", get_profile("roentgen2022").backbone("xrv-densenet121"),
                         weights=str(xrv_random_weights), allow_pickle=True)
    with pytest.raises(InputError, match="no text tower"):
        net.text_tower()


def test_chexpert_f1_parity_with_scikit_learn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    for _ in range(10):
        hyp, ref = (rng.random((50, 5)) < 0.3).astype(int), (rng.random((50, 5)) < 0.3).astype(int)
        ref[:, 4] = 0
        hyp[:, 4] = 0  # a class with no positive anywhere: left out of the macro average
        ours = chexpert_f1(hyp, ref)
        assert ours["micro_f1"] == pytest.approx(f1_score(ref, hyp, average="micro"), abs=1e-12)
        assert ours["macro_f1"] == pytest.approx(f1_score(ref[:, :4], hyp[:, :4], average="macro"), abs=1e-12)
        assert ours["per_class"]["4"] is None
    assert chexpert_f1(np.eye(3), np.eye(3))["micro_f1"] == 1.0  # a report against itself


def single_label_prompts(folder, order=range(6)):
    """Six prompts, one finding each, as the retrieval protocol wants them (rows in `order`)."""
    rows = ["prompt_id,text,Cardiomegaly,Edema,Pleural Effusion"]
    findings = ["Cardiomegaly.", "Pulmonary edema.", "Left pleural effusion."]
    for i in order:
        labels = [1 if j == i % 3 else 0 for j in range(3)]
        rows.append(f"p{i},{findings[i % 3]},{','.join(map(str, labels))}")
    prompts = folder / "prompts.csv"
    prompts.write_text("\n".join(rows) + "\n")
    return prompts


def test_retrieval_metrics_end_to_end_and_bad_input(convirt_vilmedic_file, cxr_repair_file, synthetic_sets, tmp_path):
    prompts = single_label_prompts(tmp_path)
    profile = tmp_path / "p.yaml"
    selection = ("classes: [Cardiomegaly, Edema, Pleural Effusion], queries: 10, candidates: 10, "
                 "exclude_query_prompts: false, ks: [1, 3], seed: 0")
    profile.write_text("extends: roentgen2022\nname: t\nversion: '1'\nmetrics:\n"
                       f"  i2i_precision: {{backbone: convirt-resnet50, {selection}}}\n"
                       f"  i2t_precision: {{pair: cxr-repair, {selection}}}\n"
                       "  alignment: {pair: cxr-repair, ks: [1, 3]}\n")
    weights = {"convirt-resnet50": str(convirt_vilmedic_file[0]), "cxr-repair": str(cxr_repair_file[0])}
    result = cxrgen_bench.score(images=synthetic_sets["gen"], reference=synthetic_sets["ref"], prompts=prompts,
                                metrics="i2i_precision,i2t_precision,alignment", profile=profile, weights=weights,
                                cache_dir=tmp_path / "c", bootstrap=50)
    assert result["status"] == "complete", {k: v.get("error") for k, v in result["metrics"].items()}
    assert set(result["metrics"]) == {"i2i_precision[1]", "i2i_precision[3]", "i2t_precision[1]",
                                      "i2t_precision[3]", "alignment"}
    p1 = result["metrics"]["i2i_precision[1]"]
    assert p1["details"]["selection"]["queries"] == 6 and p1["details"]["selection"]["candidates"] == 6
    assert set(p1["details"]["per_label"]) == {"Cardiomegaly", "Edema", "Pleural Effusion"}
    assert "real_mean_cosine" in result["metrics"]["alignment"]["details"]
    assert result["weights"]["text_tower"]["tower"] == "text"
    # fewer candidates than the largest k; no reference for image→image
    few = cxrgen_bench.score(images=synthetic_sets["gen"], reference=synthetic_sets["ref"], prompts=prompts,
                             metrics="i2i_precision", weights=weights, cache_dir=tmp_path / "c")
    assert ("needs at least 50 candidates; 0 single-label reference images qualify (the queries' own prompts "
            "left out)") in few["metrics"]["i2i_precision"]["error"]
    with pytest.raises(Exception, match="needs a reference image set"):
        cxrgen_bench.score(images=synthetic_sets["gen"], prompts=prompts, metrics="i2i_precision", weights=weights)


def test_alignment_is_the_mean_cosine_of_each_image_with_its_own_prompt(cxr_repair_file, synthetic_sets, tmp_path):
    """Parity with the definition (the image–text model's embeddings taken directly), invariance to the
    prompts file's row order, a pinned value, and a clear refusal without prompts."""
    from cxrgen_bench.data import ImageSet
    from cxrgen_bench.data.images import read_image
    from cxrgen_bench.models.image import build_backbone
    from cxrgen_bench.profiles import get_profile

    weights = {"cxr-repair": str(cxr_repair_file[0])}
    runs = []
    for order in (range(6), reversed(range(6))):
        folder = tmp_path / f"order{len(runs)}"
        folder.mkdir()
        runs.append(cxrgen_bench.score(images=synthetic_sets["gen"], prompts=single_label_prompts(folder, order),
                                       metrics="alignment", weights=weights, cache_dir=tmp_path / "c")
                    ["metrics"]["alignment"])
    assert runs[0]["value"] == runs[1]["value"]
    cfg = get_profile("roentgen2022").backbone("cxr-repair")
    net = build_backbone("cxr-repair", cfg, weights=weights["cxr-repair"])
    records = ImageSet.from_folder(synthetic_sets["gen"]).first_samples()
    images = net.features([net.preprocess(read_image(r.path).pixels, cfg["preprocessing"]) for r in records],
                          net.shared_layer)
    findings = {0: "Cardiomegaly.", 1: "Pulmonary edema.", 2: "Left pleural effusion."}
    tower = net.text_tower()
    texts, _ = tower.embed([findings[int(r.prompt_id[1:]) % 3] for r in records], tower.default_extraction)
    images = images / np.linalg.norm(images, axis=1, keepdims=True)
    texts = texts / np.linalg.norm(texts, axis=1, keepdims=True)
    assert runs[0]["value"] == pytest.approx(float((images * texts).sum(axis=1).mean()), abs=1e-6)
    assert runs[0]["value"] == pytest.approx(-0.0303904, abs=1e-6)  # random-weight model: a pin, not a quality
    with pytest.raises(Exception, match="prompt"):
        cxrgen_bench.score(images=synthetic_sets["gen"], metrics="alignment", weights=weights, strict=True)
