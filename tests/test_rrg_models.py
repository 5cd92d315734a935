"""The models of report generation: CheXbert from its official checkpoint format, transformers
image-to-text folders as report generators, the rrg metric end to end (images → reports → scores,
score-reports), and bad input."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import cxrgen_bench
from cxrgen_bench.errors import InputError, WeightsError

REPO = Path(__file__).resolve().parents[1]
HEADS = 14


@pytest.fixture(scope="module")
def chexbert_folder(tmp_path_factory):
    """CheXbert's official layout with random weights: a DataParallel state dict in chexbert.pth (torch.save
    of {"epoch", "model_state_dict", "optimizer_state_dict"}) beside a WordPiece vocab.txt."""
    from transformers import BertConfig, BertModel

    from cxrgen_bench.generation.tiny import save_tiny_bert

    folder = save_tiny_bert(tmp_path_factory.mktemp("chexbert"), hidden=64)
    vocab = len((folder / "vocab.txt").read_text().split())
    torch.manual_seed(0)
    # with its pooler, as CheXbert's BertModel.from_pretrained encoder saves it (the heads read [CLS] only)
    bert = BertModel(BertConfig(vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=1,
                                intermediate_size=96, max_position_embeddings=512))
    state = {f"module.bert.{k}": v for k, v in bert.state_dict().items()}
    for i in range(HEADS):
        out = 2 if i == 13 else 4
        state[f"module.linear_heads.{i}.weight"] = torch.randn(out, 64)
        state[f"module.linear_heads.{i}.bias"] = torch.randn(out)
    torch.save({"epoch": 3, "model_state_dict": state, "optimizer_state_dict": {"state": {}, "param_groups": []}},
               folder / "chexbert.pth")
    for f in folder.glob("*.safetensors"):
        f.unlink()  # only CheXbert's own file in the folder
    return folder


def test_chexbert_loads_the_official_format_without_running_code(chexbert_folder):
    from transformers import BertConfig, BertModel, BertTokenizer

    from cxrgen_bench.models.labellers.chexbert import HEAD_ORDER, CheXbertLabeller

    labeller = CheXbertLabeller(str(chexbert_folder))
    texts = ["small left pleural effusion .", "no acute cardiopulmonary process", "heart size is normal " * 200]
    labels = labeller.label(texts)
    assert labels.shape == (3, 14) and labeller.truncated == 1
    # independent path: transformers' BertModel with the same tensors, heads applied by hand
    raw = torch.load(chexbert_folder / "chexbert.pth", weights_only=True)["model_state_dict"]
    bert = BertModel(BertConfig(vocab_size=raw["module.bert.embeddings.word_embeddings.weight"].shape[0],
                                hidden_size=64, num_hidden_layers=2, num_attention_heads=1, intermediate_size=96,
                                max_position_embeddings=512), add_pooling_layer=False).eval()
    bert.load_state_dict({k[len("module.bert."):]: v for k, v in raw.items() if k.startswith("module.bert.")},
                         strict=False)
    tok = BertTokenizer(str(chexbert_folder / "vocab.txt"))
    for row, text in enumerate(texts[:2]):
        ids = torch.tensor([tok.encode(text)])
        with torch.no_grad():
            cls = bert(ids)[0][0, 0]
        for head, name in enumerate(HEAD_ORDER):
            logits = raw[f"module.linear_heads.{head}.weight"] @ cls + raw[f"module.linear_heads.{head}.bias"]
            expected = (np.nan, 1.0, 0.0, -1.0)[int(logits.argmax())]
            got = labels[row, labeller.classes.index(name)]
            assert (np.isnan(expected) and np.isnan(got)) or got == expected, (text, name)


def test_chexbert_missing_or_wrong_files_are_named(tmp_path, chexbert_folder):
    from cxrgen_bench.models.labellers.chexbert import CheXbertLabeller

    with pytest.raises(WeightsError, match="download chexbert.pth"):
        CheXbertLabeller(str(tmp_path))
    (tmp_path / "chexbert.pth").write_bytes((chexbert_folder / "chexbert.pth").read_bytes())
    with pytest.raises(WeightsError, match="vocab.txt"):
        CheXbertLabeller(str(tmp_path))
    (tmp_path / "vocab.txt").write_text("[PAD]\n")
    (tmp_path / "chexbert.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="weights-only"):
        CheXbertLabeller(str(tmp_path)).label(["x"])


@pytest.fixture(scope="module")
def rrg_folder(tmp_path_factory):
    """A tiny VisionEncoderDecoder (ViT encoder, BERT decoder with cross-attention) with random weights,
    its image processor and tokenizer, saved as transformers saves a report-generation model."""
    from transformers import (BertConfig, BertLMHeadModel, BertTokenizer, ViTConfig, ViTImageProcessor, ViTModel,
                              VisionEncoderDecoderModel)

    from cxrgen_bench.generation.tiny import save_tiny_bert

    folder = tmp_path_factory.mktemp("rrg")
    words = save_tiny_bert(tmp_path_factory.mktemp("vocab"))
    tok = BertTokenizer(str(words / "vocab.txt"))
    torch.manual_seed(0)
    encoder = ViTModel(ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=48, num_channels=3), add_pooling_layer=False)
    decoder = BertLMHeadModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=48, is_decoder=True, add_cross_attention=True))
    model = VisionEncoderDecoderModel(encoder=encoder, decoder=decoder)
    model.config.decoder_start_token_id, model.config.pad_token_id = tok.cls_token_id, tok.pad_token_id
    model.config.eos_token_id = tok.sep_token_id
    model.generation_config.decoder_start_token_id = tok.cls_token_id
    model.generation_config.pad_token_id, model.generation_config.eos_token_id = tok.pad_token_id, tok.sep_token_id
    model.save_pretrained(str(folder), safe_serialization=True)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def test_transformers_report_generator_is_deterministic_and_batch_independent(rrg_folder):
    from cxrgen_bench.models.report import load_report_generator

    gen = load_report_generator(str(rrg_folder), {"decoding": {"num_beams": 2, "max_new_tokens": 8}})
    assert gen.name == "transformers" and gen.provenance["trust_remote_code"] is False
    rng = np.random.default_rng(0)
    images = [rng.random((40, 40)).astype(np.float32) for _ in range(3)]
    together = gen.generate(images)
    assert together == [gen.generate([i])[0] for i in images]
    assert all(isinstance(t, str) for t in together)
    with pytest.raises(InputError, match="deterministic"):
        load_report_generator(str(rrg_folder), {"decoding": {"do_sample": True}})
    with pytest.raises(InputError, match="applies to transformers"):
        load_report_generator("phantom-reader", trust_remote_code=True)
    with pytest.raises(InputError, match="does not exist"):
        load_report_generator("/nonexistent/rrg")


def test_report_generator_returning_the_wrong_number_is_an_error(tmp_path):
    from cxrgen_bench.models.report import load_report_generator

    gen = load_report_generator("callable:tests.gen_helpers:one_report_too_few")
    with pytest.raises(InputError, match="returned 1 reports for 2 images"):
        gen.generate([np.zeros((8, 8), np.float32)] * 2)


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    from cxrgen_bench.calibration.dataset import PhantomDataset

    out = tmp_path_factory.mktemp("phantoms")
    table = PhantomDataset(out / "dataset").prompts(limit=12, seed=0)
    csv_path = table.write(out / "prompts.csv")
    cxrgen_bench.generate(generator="phantom-faithful", prompts=csv_path, out=out / "gen", profile="calibration-phantom",
                          samples_per_prompt=2, progress=False)
    return out, csv_path


def test_rrg_end_to_end_reports_are_cached_and_scores_kept_per_sample(phantoms, tmp_path):
    out, prompts = phantoms
    kwargs = dict(images=out / "gen", prompts=prompts, metrics="rrg[bleu4+rouge_l+f1_labeller]",
                  profile="calibration-phantom", report_generator="phantom-reader", cache_dir=tmp_path / "c",
                  bootstrap=50)
    first = cxrgen_bench.score(**kwargs, batch_size=5, out=tmp_path / "rrg.json")
    second = cxrgen_bench.score(**kwargs, batch_size=2)  # served from the report cache: same numbers
    for key in ("rrg[bleu4]", "rrg[rouge_l]", "rrg[f1_labeller]"):
        a, b = first["metrics"][key], second["metrics"][key]
        assert a["value"] == b["value"] and a["ci95"] == b["ci95"] and 0 < a["value"] <= 1
        assert len(a["details"]["per_sample"]) == 24 and a["bootstrap"]["units_sha256"]
    assert first["weights"]["report_generator"]["name"] == "phantom-reader"
    written = (tmp_path / "rrg.reports.csv").read_text().splitlines()  # the reports, beside the results
    assert first["run"]["artifacts"]["reports.csv"] == str(tmp_path / "rrg.reports.csv")
    assert len(written) == 25 and written[0].startswith("prompt_id,sample_idx,image_sha256,generated_report")
    assert first["subject"]["kind"] == "image-set" and first["status"] == "complete"


def test_score_reports_cli_and_its_bad_input(tmp_path):
    hyp, ref = tmp_path / "hyp.csv", tmp_path / "ref.csv"
    hyp.write_text("prompt_id,text\na,Small left pleural effusion.\nb,\nc,Cardiomegaly.\n", encoding="utf-8")
    ref.write_text("id,report\nc,The heart is enlarged.\na,Small left pleural effusion.\nb,No pneumothorax.\n",
                   encoding="utf-8")
    out = tmp_path / "r.json"
    cmd = [sys.executable, "-m", "cxrgen_bench", "score-reports", "--hypotheses", str(hyp), "--references", str(ref),
           "--metrics", "rrg[bleu4+rouge_l+f1_labeller]", "--out", str(out), "--no-cache", "--quiet"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    entry = result["metrics"]["rrg[rouge_l]"]
    assert result["subject"]["kind"] == "report-pairs" and result["subject"]["hypotheses"]["empty"] == 1
    assert entry["details"]["per_sample"]["a"] == 1.0 and entry["details"]["per_sample"]["b"] == 0.0
    assert "1 generated report(s) are empty" in entry["warnings"][0]
    # mismatched ids, wrong columns: a clear message, exit 2, nothing written
    ref.write_text("id,report\na,x\nz,y\n", encoding="utf-8")
    bad = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "only in the hypotheses" in bad.stderr and "['b', 'c']" in bad.stderr
    ref.write_text("name,words\na,x\n", encoding="utf-8")
    bad = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "needs an id column" in bad.stderr


def test_unknown_scorer_and_missing_models_are_recorded_not_faked(tmp_path):
    hyp = tmp_path / "h.csv"
    hyp.write_text("id,text\na,Small left pleural effusion.\n", encoding="utf-8")
    from cxrgen_bench.scoring.runner import score_reports

    result = score_reports(hyp, hyp, "rrg[bleu4+f1_chexbert+factentnli]", use_cache=False)
    assert result["status"] == "partial" and result["metrics"]["rrg[bleu4]"]["value"] == pytest.approx(1.0)
    assert "chexbert.pth" in result["metrics"]["rrg[f1_chexbert]"]["error"]
    assert "model_medrad_19k.gz" in result["metrics"]["rrg[factentnli]"]["error"]
    assert result["metrics"]["rrg[f1_chexbert]"]["value"] is None
    with pytest.raises(InputError, match=r"unknown option\(s\) meteor"):  # refused up front, before reading
        score_reports(hyp, hyp, "rrg[meteor]", use_cache=False, strict=True)


def test_nli_model_loads_the_official_format_and_matches_transformers(tmp_path):
    """model_medrad_19k.gz's layout with random weights: a gzipped torch.save of {"bert.*" (with pooler),
    "linear.*"}; labels against BertModel + the head applied by hand on "[CLS] a [SEP] b [SEP]"."""
    import gzip

    from transformers import BertConfig, BertModel, BertTokenizer

    from cxrgen_bench.generation.tiny import save_tiny_bert
    from cxrgen_bench.models.report.entities import RadiologyNLI

    folder = save_tiny_bert(tmp_path / "nli", hidden=64)
    for f in folder.glob("*.safetensors"):
        f.unlink()
    torch.manual_seed(1)
    vocab = len((folder / "vocab.txt").read_text().split())
    bert = BertModel(BertConfig(vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=1,
                                intermediate_size=96, max_position_embeddings=512)).eval()
    state = {f"bert.{k}": v for k, v in bert.state_dict().items()}
    state.update({"linear.weight": torch.randn(3, 64) * 3, "linear.bias": torch.randn(3)})
    with gzip.open(folder / "model_medrad_19k.gz", "wb") as f:
        torch.save(state, f)
    nli = RadiologyNLI(str(folder))
    first = ["small left pleural effusion .", "no pneumothorax .", "heart size is normal ."]
    second = ["left pleural effusion .", "there is a right pneumothorax .", "cardiomegaly ."]
    got = nli.predict(first, second)
    tok = BertTokenizer(str(folder / "vocab.txt"))
    for a, b, label in zip(first, second, got):
        ids = tok.encode(a, b)
        seg = [0] * (len(tok.tokenize(a)) + 2) + [1] * (len(tok.tokenize(b)) + 1)
        with torch.no_grad():
            pooled = bert(torch.tensor([ids]), token_type_ids=torch.tensor([seg])).pooler_output[0]
        logits = state["linear.weight"] @ pooled + state["linear.bias"]
        assert label == ("entailment", "neutral", "contradiction")[int(logits.argmax())]
    with pytest.raises(WeightsError, match="model_medrad_19k.gz"):
        RadiologyNLI(str(tmp_path))


def test_report_csv_keeps_multiline_reports_and_strict_stops_at_a_failing_scorer(tmp_path):
    from cxrgen_bench.scoring.runner import score_reports
    from cxrgen_bench.evaluation.subjects import ReportTable

    hyp = tmp_path / "h.csv"
    hyp.write_text('id,text\na,"Small left pleural\neffusion."\nb,No pneumothorax.\n', encoding="utf-8")
    assert ReportTable.from_csv(hyp).texts["a"] == "Small left pleural effusion."  # the line break is a space
    with pytest.raises(WeightsError, match="chexbert"):
        score_reports(hyp, hyp, "rrg[bleu4+f1_chexbert]", use_cache=False, strict=True)


def test_pairs_a_scorer_leaves_out_have_no_value_and_do_not_count(monkeypatch):
    """factENTNLI skips pairs without sentences on one side (statistics (0, 0)): no per-sample value, not in
    n.effective, never among the worst cases."""
    from cxrgen_bench.scoring.runner import score_reports
    from cxrgen_bench.metrics import report_scorers

    def fake(ctx, config, hyps, refs):
        stats = np.array([[0.0, 0.0] if not h else [0.5, 1.0] for h in hyps])
        return stats, report_scorers.mean_of, {}

    monkeypatch.setitem(report_scorers.SCORERS, "factentnli", fake)
    import tempfile

    folder = Path(tempfile.mkdtemp())
    (folder / "h.csv").write_text("id,text\na,x y\nb,\nc,z\n", encoding="utf-8")
    (folder / "r.csv").write_text("id,text\na,x y\nb,w\nc,z\n", encoding="utf-8")
    entry = score_reports(folder / "h.csv", folder / "r.csv", "rrg[factentnli]", use_cache=False)["metrics"][
        "rrg[factentnli]"]
    assert entry["value"] == 0.5 and entry["n"] == {"requested": 3, "effective": 2}
    assert entry["details"]["per_sample"]["b"] is None and all(w["id"] != "b" for w in entry["details"]["worst"])


def test_radgraph_missing_model_names_its_folder(tmp_path):
    pytest.importorskip("radgraph")
    from cxrgen_bench.models.report.entities import RadGraphAnnotator

    with pytest.raises(WeightsError, match="radgraph.*not in .*radgraph"):
        RadGraphAnnotator("radgraph", cache_dir=str(tmp_path))
