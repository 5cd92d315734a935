"""RadCliQ-v1 as a report metric: each component against an independent reference (BLEU-2 against NLTK,
BERTScore against bert-score with CXR-Report-Metric's settings on a random distilroberta-shaped model,
RadGraph F1 against CXR-Report-Metric's definition written out here, s_emb against transformers' own
BERT on CheXbert's official file with random weights), the combination against `functional.radcliq_v1`,
end to end through `score-reports` (per-item values, lower is better), missing models named, and what the
phantom calibration can say offline."""
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

import cxrgen_bench
from cxrgen_bench.functional import radcliq_v1
from cxrgen_bench.functional.report_entities import radgraph_combined, radgraph_entity_relation_f1
from cxrgen_bench.functional.text_overlap import radcliq_bleu2, radcliq_tokens, sentence_bleu
from cxrgen_bench.models.base import Model
from tests.test_rrg_models import chexbert_folder  # noqa: F401 — CheXbert's official layout, random weights
from tests.test_rrg_scorers import pairs, random_annotation

WORDS = ("small left pleural effusion . no pneumothorax , stable cardiomegaly with mild edema . the heart is "
         "enlarged . right lower lobe consolidation . lines and tubes unchanged .").split(" ")


def random_reports(rng, n):
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 14))) for _ in range(n)]


def test_bleu2_parity_with_nltk():
    """CXR-Report-Metric's BLEU-2 is fast-bleu's sentence BLEU, which is NLTK's with smoothing method1."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu as nltk_bleu

    hyps, refs = pairs()
    rng = random.Random(0)
    hyps, refs = hyps + random_reports(rng, 200), refs + random_reports(rng, 200)
    hyps[0], refs[1] = "", "Effusion.\nNo   pneumothorax"
    ours = radcliq_bleu2(hyps, refs)
    method1 = SmoothingFunction().method1
    for h, r, v in zip(hyps, refs, ours):
        ht, rt = radcliq_tokens(h), radcliq_tokens(r)
        expected = nltk_bleu([rt], ht, weights=(0.5, 0.5), smoothing_function=method1) if ht else 0.0
        assert v == pytest.approx(expected, abs=1e-12), (h, r)
    assert radcliq_tokens("No  pneumothorax.Effusion,\nstable") == ["no", "pneumothorax", ".effusion,\nstable"]
    assert sentence_bleu(["a", "b"], ["a", "b"]) == 1.0 and sentence_bleu(["x"], ["a"]) == 0.0


def test_bleu2_parity_with_fast_bleu():
    """The library CXR-Report-Metric calls (fast-bleu 0.0.90, a C++ build: not installed by scripts/test.sh),
    as its add_bleu_col calls it: one reference, weights {"bigram": (1/2, 1/2)}, its default smoothing."""
    fast_bleu = pytest.importorskip("fast_bleu")
    rng = random.Random(1)
    hyps, refs = random_reports(rng, 300), random_reports(rng, 300)
    for h, r, v in zip(hyps, refs, radcliq_bleu2(hyps, refs)):
        expected = fast_bleu.BLEU([radcliq_tokens(r)], {"bigram": (1 / 2, 1 / 2)}).get_score([radcliq_tokens(h)])
        assert v == pytest.approx(expected["bigram"][0], abs=1e-9), (h, r)


def reference_radgraph(hyp, ref):
    """CXR-Report-Metric's radgraph_evaluate_model, written out: entity set {(tokens, label)}, relation set
    {((tokens, label), (target tokens, target label), relation)}, F1 with 0 when P + R = 0, their mean."""
    def sets(a):
        ents = a["entities"]
        e = {(x["tokens"], x["label"]) for x in ents.values()}
        r = set()
        for x in ents.values():
            for rel, target in x["relations"]:
                r.add(((x["tokens"], x["label"]), (ents[target]["tokens"], ents[target]["label"]), rel))
        return e, r

    def f1(test, retrieved):
        tp = len(test & retrieved)
        p = tp / len(retrieved) if retrieved else 0
        rc = tp / len(test) if test else 0
        return 2 * p * rc / (p + rc) if p + rc else 0

    (he, hr), (re_, rr) = sets(hyp), sets(ref)
    return f1(re_, he), f1(rr, hr)


def test_radgraph_entity_and_relation_f1_follow_cxr_report_metric():
    rng = np.random.default_rng(1)
    for _ in range(400):
        a, b = random_annotation(rng), random_annotation(rng)
        assert radgraph_entity_relation_f1(a, b) == pytest.approx(reference_radgraph(a, b), abs=1e-12)
        assert radgraph_combined(a, b) == pytest.approx(sum(reference_radgraph(a, b)) / 2, abs=1e-12)
    alone = {"entities": {"1": {"tokens": "effusion", "label": "OBS-DP", "relations": []}}}
    assert radgraph_entity_relation_f1(alone, alone) == (1.0, 0.0)  # no relation on either side: F1 0, kept
    assert radgraph_combined({"entities": {}}, alone) == 0.0


@pytest.fixture(scope="module")
def distilroberta_folder(tmp_path_factory):
    """distilroberta-base's shape in small (RoBERTa, byte-level BPE, ≥ 5 layers so layer 5 exists), random
    weights, saved as transformers saves it (safetensors)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizer

    folder = tmp_path_factory.mktemp("distilroberta")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([" ".join(WORDS + ["cardiomegaly", "consolidation", "unchanged"])] * 3, vocab_size=300,
                            min_frequency=1, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                            show_progress=False)
    bpe.save_model(str(folder))
    tok = RobertaTokenizer.from_pretrained(str(folder), model_max_length=128)
    tok.save_pretrained(str(folder))
    torch.manual_seed(0)
    RobertaModel(RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=5, num_attention_heads=2,
                               intermediate_size=48, max_position_embeddings=130, pad_token_id=1),
                 add_pooling_layer=False).save_pretrained(str(folder), safe_serialization=True)
    return folder


def bert_score_reference(folder, hyps, refs):
    """CXR-Report-Metric's add_bertscore_col with bert-score itself: runs of spaces collapsed, distilroberta-base's
    baseline, idf off, cands = generated reports."""
    import re

    import bert_score
    from bert_score import BERTScorer

    baseline = Path(bert_score.__file__).parent / "rescale_baseline" / "en" / "distilroberta-base.tsv"
    scorer = BERTScorer(model_type=str(folder), num_layers=5, lang="en", rescale_with_baseline=True, idf=False,
                        baseline_path=str(baseline), batch_size=256)
    _, _, f = scorer.score([re.sub(r" +", " ", h) for h in hyps], [re.sub(r" +", " ", r) for r in refs])
    return f.numpy()


class FakeRadGraph(Model):
    """RadGraph's model is not downloadable: annotations from the words, in radgraph's output format (each
    word an entity, each word related to the next), so the wiring and the reward are tested, not the model."""
    kind, name = "report-annotator", "radgraph"

    def __init__(self, model_type="radgraph", lowercase=False, **_):
        super().__init__()
        self.model_type, self.lowercase = model_type, lowercase
        self.provenance = {"path": "test", "sha256": "0" * 64, "source": "test double"}

    def annotate(self, reports):
        out = []
        for text in reports:
            words = [w for w in text.lower().replace(".", " ").replace(",", " ").split()]
            ents = {str(i + 1): {"tokens": w, "label": "OBS-DP" if len(w) > 5 else "ANAT-DP",
                                 "relations": [["modify", str(i + 2)]] if i + 1 < len(words) else []}
                    for i, w in enumerate(words)}
            out.append({"entities": ents})
        return out


def write_pairs(folder, hyps, refs):
    (folder / "h.csv").write_text("id,text\n" + "".join(f"p{i},\"{h}\"\n" for i, h in enumerate(hyps)),
                                  encoding="utf-8")
    (folder / "r.csv").write_text("id,text\n" + "".join(f"p{i},\"{r}\"\n" for i, r in enumerate(refs)),
                                  encoding="utf-8")
    return folder / "h.csv", folder / "r.csv"


def test_radcliq_end_to_end_matches_its_components(tmp_path, monkeypatch, distilroberta_folder, chexbert_folder):
    """score-reports --metrics radcliq with the three models in their official formats (random weights; the
    RadGraph model a test double): each component equals its reference, the per-pair value is
    functional.radcliq_v1 of them, the corpus value their mean, per-item values kept, lower is better."""
    from transformers import BertConfig, BertModel, BertTokenizer

    from cxrgen_bench.models.report import entities
    from cxrgen_bench.registry import card_for
    from cxrgen_bench.scoring.runner import score_reports

    monkeypatch.setattr(entities, "RadGraphAnnotator", FakeRadGraph)
    hyps, refs = pairs()
    hyps, refs = hyps[:8], refs[:8]
    hyps[2] = refs[2]  # one identical pair
    h_csv, r_csv = write_pairs(tmp_path, hyps, refs)
    weights = {"radcliq-bertscore": str(distilroberta_folder), "chexbert": str(chexbert_folder)}
    result = score_reports(h_csv, r_csv, "radcliq", weights=weights, cache_dir=tmp_path / "cache", bootstrap=50)
    entry = result["metrics"]["radcliq"]
    assert result["status"] == "complete" and card_for("radcliq").direction == "lower"
    # the components from their references
    bleu = [sentence_bleu(radcliq_tokens(h), radcliq_tokens(r)) for h, r in zip(hyps, refs)]
    bert = bert_score_reference(distilroberta_folder, hyps, refs)
    graph = [sum(reference_radgraph(a, b)) / 2 for a, b in zip(FakeRadGraph().annotate(hyps),
                                                               FakeRadGraph().annotate(refs))]
    raw = torch.load(chexbert_folder / "chexbert.pth", weights_only=True)["model_state_dict"]
    bert_model = BertModel(BertConfig(vocab_size=raw["module.bert.embeddings.word_embeddings.weight"].shape[0],
                                      hidden_size=64, num_hidden_layers=2, num_attention_heads=1,
                                      intermediate_size=96, max_position_embeddings=512), add_pooling_layer=False).eval()
    bert_model.load_state_dict({k[12:]: v for k, v in raw.items() if k.startswith("module.bert.")}, strict=False)
    tok = BertTokenizer(str(chexbert_folder / "vocab.txt"))

    def cls(text):
        with torch.no_grad():
            return bert_model(torch.tensor([tok.encode(" ".join(text.split()))]))[0][0, 0].double().numpy()

    semb = [float(cls(h) @ cls(r) / np.linalg.norm(cls(h)) / np.linalg.norm(cls(r))) for h, r in zip(hyps, refs)]
    expected = radcliq_v1(graph, bert, semb, bleu)
    got = np.array([entry["details"]["per_sample"][f"p{i}"] for i in range(len(hyps))])
    np.testing.assert_allclose(got, np.round(expected, 4), atol=1e-4)
    assert entry["value"] == pytest.approx(float(expected.mean()), abs=1e-5)
    np.testing.assert_allclose(entry["per_item"]["values"], expected, atol=1e-5)
    assert entry["per_item"]["ids"] == [f"p{i}" for i in range(len(hyps))]
    means = entry["details"]["component_means"]
    for name, values in (("bleu2", bleu), ("bertscore", bert), ("semb", semb), ("radgraph", graph)):
        assert means[name] == pytest.approx(float(np.mean(values)), abs=2e-5), name
    assert entry["details"]["components"]["bertscore"] == {"model": "distilroberta-base", "num_layers": 5,
                                                           "idf": False, "rescale_with_baseline": True}
    assert got[2] == min(got) and entry["ci95"][0] <= entry["value"] <= entry["ci95"][1]
    again = score_reports(h_csv, r_csv, "radcliq", weights=weights, cache_dir=tmp_path / "cache", bootstrap=50)
    assert again["metrics"]["radcliq"]["value"] == entry["value"]  # from the cache of components


def test_radcliq_missing_models_are_named_not_faked(tmp_path, distilroberta_folder):
    from cxrgen_bench.errors import InputError
    from cxrgen_bench.scoring.runner import score_reports

    h_csv, r_csv = write_pairs(tmp_path, ["Small effusion."], ["Small left effusion."])
    result = score_reports(h_csv, r_csv, "radcliq,rrg[bleu4]", use_cache=False)
    assert result["status"] == "partial" and result["metrics"]["radcliq"]["value"] is None
    assert "--weights radcliq-bertscore=FOLDER" in result["metrics"]["radcliq"]["error"]
    assert "distilroberta-base" in result["metrics"]["radcliq"]["error"]
    assert result["metrics"]["rrg[bleu4]"]["value"] is not None  # the others still run
    result = score_reports(h_csv, r_csv, "radcliq", use_cache=False,
                           weights={"radcliq-bertscore": str(distilroberta_folder)})
    assert "chexbert.pth" in result["metrics"]["radcliq"]["error"]
    with pytest.raises(InputError):
        score_reports(h_csv, r_csv, "radcliq[bleu2]", use_cache=False, strict=True)


def test_radcliq_is_monotone_in_its_weighted_components():
    """Lower is better: more agreement on RadGraph, BERTScore or s_emb never raises it (negative weights);
    BLEU-2's weight is ~0 (4e-12), so it barely moves it."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(4, 500))
    base = radcliq_v1(*x)
    for j in range(3):
        up = x.copy()
        up[j] += 0.1
        assert (radcliq_v1(*up) < base).all()
    up = x.copy()
    up[3] += 0.5
    np.testing.assert_allclose(radcliq_v1(*up), base, atol=1e-10)


@pytest.fixture(scope="module")
def phantom_reports(tmp_path_factory):
    """The calibration's stand-ins (a few prompts) read by the phantom-reader report generator, scored with the
    offline rrg scorers and radcliq in one run each."""
    from cxrgen_bench.calibration.dataset import PhantomDataset
    from cxrgen_bench.data.datasets.base import PromptTable
    from cxrgen_bench.generation import generate

    out = tmp_path_factory.mktemp("phantoms")
    table = PhantomDataset(out / "dataset").prompts(limit=16, seed=0)
    prompts = PromptTable(table.rows, table.description).write(out / "prompts.csv")
    runs = {}
    weights = {k: v for k, v in (("radcliq-bertscore", os.environ.get("CXRGEN_RADCLIQ_BERTSCORE")),
                                 ("chexbert", os.environ.get("CXRGEN_CHEXBERT"))) if v}
    for name in ("phantom-faithful", "phantom-flips-laterality", "phantom-ignores-prompt"):
        generate(generator=name, prompts=prompts, out=out / name, profile="calibration-phantom", samples_per_prompt=1,
                 progress=False)
        runs[name] = cxrgen_bench.score(images=out / name, prompts=prompts, profile="calibration-phantom",
                                        metrics="rrg[bleu4+rouge_l+f1_labeller],radcliq", report_generator="phantom-reader",
                                        cache_dir=out / "cache", weights=weights, out=out / f"{name}.json")
    return out, runs


def test_phantom_calibration_what_radcliq_can_say_offline(phantom_reports):
    """Offline, RadCliQ's models are absent: the run records why (partial), the other scorers still order the
    stand-ins, and so does RadCliQ's one offline component, BLEU-2 (faithful above ignores-prompt, as BLEU-4)."""
    import csv

    out, runs = phantom_reports
    bleu2 = {}
    for name, result in runs.items():
        with open(out / f"{name}.reports.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        bleu2[name] = float(radcliq_bleu2([r["generated_report"] for r in rows], [r["prompt_report"] for r in rows]).mean())
    assert bleu2["phantom-faithful"] > bleu2["phantom-ignores-prompt"] + 0.03  # 0.372 vs 0.328 on these 16 prompts
    for key in ("rrg[bleu4]", "rrg[rouge_l]", "rrg[f1_labeller]"):
        assert runs["phantom-faithful"]["metrics"][key]["value"] > runs["phantom-ignores-prompt"]["metrics"][key]["value"]
    if runs["phantom-faithful"]["metrics"]["radcliq"]["value"] is None:
        assert runs["phantom-faithful"]["status"] == "partial"
        assert "radcliq-bertscore" in runs["phantom-faithful"]["metrics"]["radcliq"]["error"]


def test_phantom_calibration_radcliq_known_answer_with_real_weights(phantom_reports):
    """The known answer, where the real models are on the machine (CXRGEN_RADCLIQ_BERTSCORE: a distilroberta-base
    folder; CXRGEN_CHEXBERT: CheXbert's folder; RadGraph's model in its cache): RadCliQ (lower is better) orders
    faithful below ignores-prompt, as every other scorer orders them the other way round (16 prompts: flipped
    sides are not asked about, the other scorers do not separate them from faithful at this size either)."""
    _, runs = phantom_reports
    values = {name: r["metrics"]["radcliq"]["value"] for name, r in runs.items()}
    if values["phantom-faithful"] is None:
        pytest.skip("RadCliQ's models are not on this machine: " + runs["phantom-faithful"]["metrics"]["radcliq"]["error"])
    assert values["phantom-faithful"] < values["phantom-ignores-prompt"]
