"""RaTEScore: the RaTE-NER and BioLORD folders loaded from their transformers format (random weights, small
configs, safetensors), the score against the `RaTEScore` package itself on the same models and reports
(its sentence splitter, medspacy's PyRuSH, does not install beside numpy 2: both sides split with the
suite's punctuation splitter, stubbed into the package), its span rules and pair score against the
package's functions on random tags and embeddings, end to end through `score-reports`, and bad folders."""
import random
import sys
import types

import numpy as np
import pytest
import torch

from cxrgen_bench.errors import InputError, WeightsError
from cxrgen_bench.functional.ratescore import AFFINITY, NEG_WEIGHT, NO_ENTITY, TYPES, entity_spans, ratescore_pair
from cxrgen_bench.models.report.ratescore import split_punctuation_sentences

TAGS = ["O"] + [f"{p}-{t}" for t in TYPES for p in "BI"]
REPORTS = ["Small left pleural effusion. No pneumothorax.", "Heart size is normal.\nNo focal consolidation.",
           "", "Moderate cardiomegaly with mild pulmonary edema. Right lower lobe opacity, likely atelectasis.",
           "No acute cardiopulmonary process.", "Lines and tubes unchanged. Stable bilateral effusions."]


@pytest.fixture(scope="module")
def rate_folders(tmp_path_factory):
    """RaTE-NER's format (a DeBERTa-v2 token classifier whose id2label holds RaTEScore's BIO tags) and
    BioLORD-2023-C's (an MPNet encoder), small and random, saved by transformers with safetensors."""
    from transformers import (DebertaV2Config, DebertaV2ForTokenClassification, MPNetConfig, MPNetModel,
                              MPNetTokenizer)

    from cxrgen_bench.generation.tiny import RADIOLOGY_WORDS, save_tiny_bert

    base = tmp_path_factory.mktemp("rate")
    ner = save_tiny_bert(base / "rate-ner", hidden=32)  # its WordPiece tokenizer ([CLS]/[SEP], as DeBERTa-v3's)
    for f in [*ner.glob("*.safetensors"), ner / "config.json"]:
        f.unlink()
    vocab = len((ner / "vocab.txt").read_text().split())
    torch.manual_seed(0)
    DebertaV2ForTokenClassification(DebertaV2Config(
        vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
        max_position_embeddings=512, id2label=dict(enumerate(TAGS)), label2id={t: i for i, t in enumerate(TAGS)},
    )).save_pretrained(str(ner), safe_serialization=True)
    bio = base / "biolord"
    bio.mkdir()
    words = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "[UNK]", ".", ","] + sorted(set(RADIOLOGY_WORDS))
    words += [chr(c) for c in range(97, 123)] + ["##" + chr(c) for c in range(97, 123)]
    (bio / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    MPNetTokenizer(str(bio / "vocab.txt")).save_pretrained(str(bio))
    MPNetModel(MPNetConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=48, max_position_embeddings=64)).save_pretrained(str(bio),
                                                                                             safe_serialization=True)
    return ner, bio


@pytest.fixture(scope="module")
def package():
    """The RaTEScore package (pip install --no-deps ratescore==0.6.0), with medspacy stubbed by the suite's
    punctuation splitter: it imports medspacy and loads PyRuSH when imported."""
    pytest.importorskip("pandas")
    if "RaTEScore" not in sys.modules:
        import importlib.util

        if importlib.util.find_spec("RaTEScore") is None:
            pytest.skip("RaTEScore not installed (pip install --no-deps ratescore==0.6.0)")
    stub = types.ModuleType("medspacy")

    class Doc:
        def __init__(self, text):
            self.sents = split_punctuation_sentences(text)

    stub.load = lambda **_: Doc
    saved = sys.modules.get("medspacy")
    sys.modules["medspacy"] = stub
    try:
        import RaTEScore
        from RaTEScore import utils
    finally:
        if saved is None:
            sys.modules.pop("medspacy", None)
        else:
            sys.modules["medspacy"] = saved
    return RaTEScore, utils


def test_spans_follow_the_package_on_random_tags(package):
    _, utils = package

    class Tok:
        @staticmethod
        def convert_tokens_to_string(tokens):
            return " ".join(tokens)

    rng = random.Random(0)
    for trial in range(3000):
        n = rng.randint(2, 12)
        tokens = ["[CLS]"] + [f"w{i}" for i in range(n)] + ["[SEP]"]
        tags = [rng.choice(TAGS) for _ in range(len(tokens) + rng.choice([0, 0, 3]))]  # sometimes padded
        expected = utils.post_process(tokens, tags, Tok)
        ours = [(" ".join(tokens[a:b + 1]), kind) for a, b, kind in entity_spans(tokens, tags)]
        assert ours == expected, (tokens, tags)


def test_pair_score_follows_the_package(package):
    _, utils = package
    rng = np.random.default_rng(0)
    matrix = {(a.upper(), b.upper()): v for (a, b), v in AFFINITY["long"].items()} | {("NEG", "WEIGHT"): NEG_WEIGHT["long"]}
    for _ in range(300):
        nh, nr = rng.integers(0, 6, size=2)
        h, r = rng.normal(size=(nh, 8)), rng.normal(size=(nr, 8))
        if rng.random() < 0.2 and nh and nr:
            h[0] = r[0]  # an exact synonym
        ht, rt = list(rng.choice(TYPES, nh)), list(rng.choice(TYPES, nr))
        ours = ratescore_pair(h, ht, r, rt, "long")
        if not nh or not nr:
            assert ours == NO_ENTITY
            continue
        p = utils.compute(torch.tensor(r, dtype=torch.float32), torch.tensor(h, dtype=torch.float32), rt, ht, matrix)
        q = utils.compute(torch.tensor(h, dtype=torch.float32), torch.tensor(r, dtype=torch.float32), ht, rt, matrix)
        expected = 2 * p * q / (p + q) if p + q else 0
        assert ours == pytest.approx(expected, abs=1e-5)


def test_ratescore_matches_the_package_on_the_same_models(rate_folders, package):
    """The package's RaTEScore(bert_model=, eval_model=) on the same two folders and reports (its batch of one
    sentence; ours batches 16 with padding): the same per-pair scores. A report without any sentence (empty, or
    only fragments under 3 characters) is where they part: the package drops it from its list of reports, so
    every later pair is scored against the wrong report (and one pair fewer comes back); here it has no
    entity and scores 0.5, in its place."""
    RaTEScore, _ = package
    from cxrgen_bench.models.report.ratescore import RaTEScoreModels

    ner, bio = rate_folders
    scorer = RaTEScore.RaTEScore(bert_model=str(ner), eval_model=str(bio), use_gpu=False)
    assert len(scorer.compute_score(REPORTS, REPORTS[1:] + REPORTS[:1])) == len(REPORTS) - 1  # the package's shift
    hyps = [r for r in REPORTS if r] + ["Effusion."]
    refs = hyps[1:] + hyps[:1]
    reference = scorer.compute_score(hyps, refs)
    models = RaTEScoreModels({"sentence_splitter": "punctuation"}, {"rate-ner": str(ner), "biolord": str(bio)})
    hyp_e, ref_e = models.entities(hyps), models.entities(refs)
    texts = sorted({t for ents in hyp_e + ref_e for t, _ in ents})
    vectors = dict(zip(texts, models.embed(texts)))
    ours = [ratescore_pair(np.array([vectors[t] for t, _ in h]), [k for _, k in h],
                           np.array([vectors[t] for t, _ in r]), [k for _, k in r]) for h, r in zip(hyp_e, ref_e)]
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    assert len(set(np.round(ours, 6))) > 3  # the random models find entities: not every pair is 0.5


def test_ratescore_end_to_end_keeps_per_item_values(rate_folders, tmp_path):
    from cxrgen_bench.profiles import get_profile
    from cxrgen_bench.registry import card_for
    from cxrgen_bench.scoring.runner import score_reports

    ner, bio = rate_folders
    (tmp_path / "h.csv").write_text("id,text\n" + "".join(f'r{i},"{t}"\n' for i, t in enumerate(REPORTS[:2] + REPORTS[3:])),
                                    encoding="utf-8")
    (tmp_path / "r.csv").write_text("id,text\n" + "".join(f'r{i},"{t}"\n' for i, t in enumerate(REPORTS[3:] + REPORTS[:2])),
                                    encoding="utf-8")
    profile = get_profile("roentgen2022").with_overrides(["metrics.ratescore.sentence_splitter=punctuation"])
    result = score_reports(tmp_path / "h.csv", tmp_path / "r.csv", "ratescore", profile=profile,
                           weights={"rate-ner": str(ner), "biolord": str(bio)}, cache_dir=tmp_path / "c", bootstrap=30)
    entry = result["metrics"]["ratescore"]
    assert result["status"] == "complete" and card_for("ratescore").direction == "higher"
    assert entry["value"] == pytest.approx(float(np.mean(entry["per_item"]["values"])), abs=1e-9)
    assert len(entry["per_item"]["values"]) == 5 and 0 <= entry["value"] <= 1
    assert entry["details"]["sentence_splitter"] == "punctuation" and entry["details"]["affinity"] == "long"
    assert result["weights"]["ratescore"]["parts"]["rate-ner"]["format"] == "safetensors"


def test_ratescore_bad_or_missing_folders_are_named(rate_folders, tmp_path):
    import json
    import shutil

    from cxrgen_bench.models.report.ratescore import RaTEScoreModels
    from cxrgen_bench.scoring.runner import score_reports

    ner, bio = rate_folders
    with pytest.raises(WeightsError, match="--weights rate-ner=FOLDER"):
        RaTEScoreModels({}, {"biolord": str(bio)})
    with pytest.raises(WeightsError, match="--weights biolord=FOLDER"):
        RaTEScoreModels({}, {"rate-ner": str(ner)})
    with pytest.raises(InputError, match="sentence_splitter"):
        RaTEScoreModels({"sentence_splitter": "nltk"}, {"rate-ner": str(ner), "biolord": str(bio)})
    with pytest.raises(WeightsError, match="not the .* the profile pins"):
        RaTEScoreModels({"ner_sha256": "0" * 64}, {"rate-ner": str(ner), "biolord": str(bio)})
    other = shutil.copytree(ner, tmp_path / "other")  # a token classifier with other labels: not RaTE-NER
    config = json.loads((other / "config.json").read_text())
    config["id2label"] = {"0": "O", "1": "B-PER"}
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="id2label"):
        RaTEScoreModels({}, {"rate-ner": str(other), "biolord": str(bio)})
    config["auto_map"] = {"AutoModel": "modeling.Custom"}  # code shipped with the checkpoint: never run
    config["id2label"] = {str(i): t for i, t in enumerate(TAGS)}
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="auto_map"):
        RaTEScoreModels({}, {"rate-ner": str(other), "biolord": str(bio)})
    pickled = shutil.copytree(bio, tmp_path / "pickled")
    state = {k: torch.zeros(1) for k in ("a",)}
    (pickled / "model.safetensors").unlink()
    torch.save(state, pickled / "pytorch_model.bin")
    with pytest.raises(WeightsError, match="pickle weights"):
        RaTEScoreModels({}, {"rate-ner": str(ner), "biolord": str(pickled)})
    if "medspacy" not in sys.modules:
        try:
            import medspacy  # noqa: F401
        except ImportError:
            with pytest.raises(InputError, match="pip install medspacy"):
                RaTEScoreModels({}, {"rate-ner": str(ner), "biolord": str(bio)}).sentences("One. Two.")
    h = tmp_path / "h.csv"
    h.write_text("id,text\na,Small effusion.\n", encoding="utf-8")
    result = score_reports(h, h, "ratescore", use_cache=False)
    assert result["status"] == "partial" and "--weights rate-ner=FOLDER" in result["metrics"]["ratescore"]["error"]


def test_punctuation_sentences():
    from cxrgen_bench.models.report.ratescore import RaTEScoreModels

    split = RaTEScoreModels.sentences.__get__(types.SimpleNamespace(splitter="punctuation"))
    assert split("Small effusion. No pneumothorax!\nStable  lines? A. 2.5 cm nodule") == [
        "Small effusion.", "No pneumothorax!", "Stable  lines?", "2.5 cm nodule"]  # "A." is under 3 characters
