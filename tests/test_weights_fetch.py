"""`weights fetch` against a local mirror of the official sources (tests/mirror.py: release files and enough of
the Hugging Face Hub): from an empty folder, every model of roentgen2022 and chexgenbench2025 that a public
source serves is fetched, locked and ready; an interrupted download resumes; a file changed upstream is
refused by name; fetch → bundle → install round-trips on a folder that never saw the network.

What the mirror serves is in each model's official format. The XRV DenseNet and the race ResNet are real
architectures with random weights, since fetch converts them through their own loaders; the files fetch only
moves and hashes (the Hub folders, CLIP's safetensors) are small stand-ins of the same format: nothing here
scores with them.
"""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as save_safetensors

from cxrgen_bench.cli import main
from cxrgen_bench.models.lock import LOCK_NAME, WeightsLock
from cxrgen_bench.profiles import get_profile

from .mirror import mirror_fixture  # noqa: F401

NOT_SERVED = {"convirt-resnet50", "cxr-repair", "factentnli", "mira-sex", "reid-siamese",  # no public host
              "stanza",  # a library's own download (Stanza is not installed for the tests)
              "riken-age"}  # a 460 MB TorchScript SENet-154: the mirror leaves it out; xrv tests the same path


def xrv_url(model: str = "xrv-densenet121") -> str:
    spec = get_profile("roentgen2022").backbone(model)["weights"]["known_files"]
    return next(k["url"] for k in spec if k.get("url"))


def tiny_text_model() -> dict[str, bytes]:
    """A BERT of two layers with its tokenizer, saved as transformers saves one."""
    import tempfile

    from transformers import BertConfig, BertModel, BertTokenizerFast

    with tempfile.TemporaryDirectory() as folder:
        vocab = Path(folder) / "vocab.txt"
        vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "lung", "effusion"]) + "\n")
        BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(folder)
        torch.manual_seed(0)
        BertModel(BertConfig(vocab_size=7, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=32)).save_pretrained(folder)
        return {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}


def torch_bytes(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def radgraph_archive(embedder: str) -> bytes:
    """RadGraph's model archive: a DyGIE config naming its BERT, and its vocabulary."""
    config = {"model": {"embedder": {"token_embedders": {"bert": {"model_name": embedder}}}},
              "dataset_reader": {"token_indexers": {"bert": {"model_name": embedder, "max_length": 512}}}}
    files = {"config.json": json.dumps(config).encode(), "vocabulary/ner_labels.txt": b"Anatomy\nObservation\n",
             "model.tar.gz": b"weights"}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def official(mirror, xrv_random_weights):
    """The mirror filled with every model a public source serves, in its official format."""
    import torchvision

    text = tiny_text_model()
    mirror.add_file(xrv_url(), xrv_random_weights.read_bytes())
    race = torchvision.models.resnet34()
    race.fc = torch.nn.Sequential(torch.nn.Linear(512, 3), torch.nn.LogSoftmax(dim=1))  # Emory HITI's head
    race = race.state_dict()
    mirror.add_file(xrv_url("xrv-race"), torch_bytes({f"module.{k}": v for k, v in race.items()}))
    mirror.add_repo("timm/vit_base_patch32_clip_224.openai",
                    {"open_clip_model.safetensors": save_safetensors({"logit_scale": torch.ones(())})})
    for repo in ("distilbert/distilbert-base-uncased", "distilbert/distilroberta-base", "Angelakeke/RaTE-NER-Deberta",
                 "FremyCompany/BioLORD-2023-C", "tiny/radgraph-embedder"):
        mirror.add_repo(repo, text)
    mirror.add_repo("google-bert/bert-base-uncased", {"vocab.txt": text["vocab.txt"]})
    mirror.add_repo("StanfordAIMI/RRG_scorers", {"chexbert.pth": torch_bytes({"model_state_dict": {
        "module.bert.embeddings.word_embeddings.weight": torch.zeros(7, 16)}}),
        "radgraph.tar.gz": radgraph_archive("tiny/radgraph-embedder")})
    mirror.add_repo("microsoft/rad-dino", {"config.json": json.dumps({"model_type": "dinov2"}).encode(),
                                           "model.safetensors": save_safetensors({"w": torch.zeros(2)}),
                                           "preprocessor_config.json": b"{}"})
    mirror.add_repo("microsoft/BiomedVLP-BioViL-T", {**text, "biovil_t_image_model_proj_size_128.pt": torch_bytes(
        {"encoder.encoder.conv1.weight": torch.zeros(1)})}, commit=None, branch="v1.0")
    return mirror


def status(capsys, profile: str) -> dict[str, dict]:
    capsys.readouterr()
    assert main(["weights", "status", "--profile", profile, "--json"]) == 0
    return {m["name"]: m for m in json.loads(capsys.readouterr().out)["models"]}


def test_fetch_from_an_empty_folder_makes_every_served_model_ready_with_a_lock(official, tmp_path, capsys,
                                                                             monkeypatch):
    root = tmp_path / "weights"
    code = main(["weights", "fetch", "--profile", "roentgen2022", "--to", str(root), "--allow-pickle", "--quiet"])
    said = capsys.readouterr().out
    assert code == 1 and "xrv-densenet121: fetched" in said and "convirt-resnet50: manual" in said
    monkeypatch.setenv("CXRGEN_WEIGHTS", str(root))
    models = status(capsys, "roentgen2022")
    waiting = {name for name, m in models.items() if not m["found"]}
    assert waiting == NOT_SERVED - {"reid-siamese"}, {n: models[n]["problem"] for n in waiting}
    lock = WeightsLock.load(root)
    xrv = lock.models["xrv-densenet121"]
    assert xrv.pinned_by == "first fetch" and xrv.source == xrv_url()
    converted = next(f for rel, f in xrv.files.items() if rel.endswith(".safetensors"))
    assert converted.converted_from.endswith("-best.pt") and converted.trusted_by == "--allow-pickle"
    assert lock.models["bertscore"].revision == official.commit("distilbert/distilbert-base-uncased")
    assert main(["weights", "verify", "--to", str(root)]) == 0


def test_chexgenbench2025_fetches_rad_dino_and_biovil_t_at_its_tag(official, tmp_path, capsys, monkeypatch):
    root = tmp_path / "weights"
    main(["weights", "fetch", "--profile", "chexgenbench2025", "--to", str(root), "--quiet"])  # no --allow-pickle
    monkeypatch.setenv("CXRGEN_WEIGHTS", str(root))
    models = status(capsys, "chexgenbench2025")  # it extends roentgen2022: every model of that one too
    assert {name for name, m in models.items() if not m["found"]} == NOT_SERVED | {"xrv-densenet121"}  # a pickle
    assert models["rad-dino"]["found"] and models["biovil-t"]["found"] and models["pyradiomics"]["found"]
    lock = WeightsLock.load(root)
    assert lock.models["biovil-t"].pinned_by == "publisher"  # the v1.0 tag the catalogue names
    assert lock.models["biovil-t"].revision == official.commit("microsoft/BiomedVLP-BioViL-T", branch="v1.0")


def test_an_interrupted_download_resumes_where_it_stopped(official, tmp_path, capsys, xrv_random_weights):
    root = tmp_path / "weights"
    data = xrv_random_weights.read_bytes()
    name = xrv_url().rsplit("/", 1)[1]
    part = root / "xrv-densenet121" / f"{name}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:1 << 20])  # what a killed fetch leaves
    assert main(["weights", "fetch", "--profile", "roentgen2022", "--only", "xrv-densenet121", "--to", str(root),
                 "--quiet"]) == 1  # fetched; converting it still needs --allow-pickle
    ranges = [r.range for r in official.requests_for(xrv_url()) if r.method == "GET"]
    assert ranges == [f"bytes={1 << 20}-"], ranges
    assert (root / "xrv-densenet121" / name).read_bytes() == data and not part.exists()
    assert "needs-allow-pickle" in capsys.readouterr().out


def test_a_file_changed_upstream_is_refused_by_name(official, tmp_path, capsys):
    root = tmp_path / "weights"
    args = ["weights", "fetch", "--profile", "roentgen2022", "--to", str(root), "--quiet", "--only"]
    assert main([*args, "xrv-race", "bertscore"]) == 0
    official.add_file(xrv_url("xrv-race"), b"another file at the same address")
    for path in (root / "xrv-race").iterdir():
        path.unlink()
    official.set_file("distilbert/distilbert-base-uncased", "model.safetensors", b"changed", same_commit=True)
    (root / "bertscore" / "model.safetensors").unlink()
    import shutil

    from huggingface_hub import constants

    shutil.rmtree(constants.HF_HUB_CACHE)  # a fresh machine with the lock: the Hub cache would serve the old file
    capsys.readouterr()
    assert main([*args, "xrv-race", "bertscore"]) == 1
    said = capsys.readouterr().out
    assert "xrv-race: failed" in said and "records" in said and "resnet_race_detection" in said
    assert "bertscore: failed" in said and "bertscore/model.safetensors: changed upstream" in said
    assert not any((root / "xrv-race").iterdir()) and not (root / "bertscore" / "model.safetensors").exists()


def test_fetch_bundle_install_round_trip_without_the_network(official, tmp_path, capsys, monkeypatch):
    online = tmp_path / "online"
    main(["weights", "fetch", "--profile", "roentgen2022", "--to", str(online), "--allow-pickle", "--quiet"])
    bundle = tmp_path / "models.tar"
    assert main(["weights", "bundle", "--profile", "roentgen2022", "--to", str(online), "--out", str(bundle)]) == 1
    assert "not in the bundle (not on this machine): convirt-resnet50" in capsys.readouterr().out
    seen = len(official.requests)
    offline = tmp_path / "offline"
    monkeypatch.setenv("CXRGEN_OFFLINE", "1")
    assert main(["weights", "install", str(bundle), "--to", str(offline)]) == 0
    monkeypatch.setenv("CXRGEN_WEIGHTS", str(offline))
    models = status(capsys, "roentgen2022")
    assert {n for n, m in models.items() if not m["found"]} == NOT_SERVED - {"reid-siamese"}
    assert main(["weights", "verify", "--to", str(offline)]) == 0
    assert len(official.requests) == seen  # installing and checking never touched the network
    with tarfile.open(bundle) as tar:
        assert tar.getnames()[0] == LOCK_NAME and any(n.startswith("inception-v3-fid/") for n in tar.getnames())
