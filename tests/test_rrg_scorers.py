"""The report-generation scorers: parity with the reference packages (pycocoevalcap, rouge-score,
bert-score, radgraph's reward code) or a from-definition reference, invariances, pinned values on
committed report pairs, and bad input."""
import csv
import importlib.util
import random
from pathlib import Path

import numpy as np
import pytest

from cxrgen_bench.errors import InputError
from cxrgen_bench.functional import corpus_bleu4, entity_f1, radgraph_reward, rouge_l
from cxrgen_bench.functional.text_overlap import bleu_from_stats, bleu_stats, split_punctuation

PAIRS = Path(__file__).parent / "data" / "rrg_pairs.csv"


def pairs():
    with open(PAIRS, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["hypothesis"] for r in rows], [r["reference"] for r in rows]


def test_bleu4_parity_with_pycocoevalcap():
    bleu = pytest.importorskip("pycocoevalcap.bleu.bleu")
    hyps, refs = pairs()
    rng = random.Random(0)
    words = " ".join(hyps + refs).split()
    for trial in range(5):  # the committed pairs, then random corpora of radiology words (short ones too)
        if trial:
            hyps = [" ".join(rng.choices(words, k=rng.randint(1, 14))) for _ in range(30)]
            refs = [" ".join(rng.choices(words, k=rng.randint(1, 14))) for _ in range(30)]
        theirs, _ = bleu.Bleu(4).compute_score({i: [r] for i, r in enumerate(refs)},
                                               {i: [h] for i, h in enumerate(hyps)}, verbose=0)
        assert corpus_bleu4(hyps, refs) == pytest.approx(theirs[3], rel=1e-12, abs=1e-15)


def lcs(a, b):
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


def test_rouge_l_matches_its_definition_on_unstemmed_words():
    """rouge-score computes it; here the LCS F-measure from its definition, on lower-case words that the
    Porter stemmer leaves alone, checks that we call it the right way round and average F."""
    hyps = ["small left pleural effusion", "no acute cardiopulmonary process", "heart size is normal"]
    refs = ["left pleural effusion is small", "no acute process", "the heart is normal in size"]
    expected = []
    for h, r in zip(hyps, refs):
        a, b = h.split(), r.split()
        n = lcs(a, b)
        p, rec = n / len(a), n / len(b)
        expected.append(2 * p * rec / (p + rec))
    assert rouge_l(hyps, refs) == pytest.approx(np.mean(expected), rel=1e-12)


def test_overlap_scores_invariances_and_pinned_values():
    hyps, refs = pairs()
    assert corpus_bleu4(refs, refs) == pytest.approx(1.0) and rouge_l(refs, refs) == pytest.approx(1.0)
    order = np.random.default_rng(0).permutation(len(hyps))
    assert corpus_bleu4([hyps[i] for i in order], [refs[i] for i in order]) == pytest.approx(corpus_bleu4(hyps, refs))
    assert rouge_l([hyps[i] for i in order], [refs[i] for i in order]) == pytest.approx(rouge_l(hyps, refs))
    # the corpus value from summed statistics is what bootstrap replicates use
    stats = bleu_stats(hyps, refs)
    assert float(bleu_from_stats(stats.sum(0))) == corpus_bleu4(hyps, refs)
    assert rouge_l(hyps, refs) == pytest.approx(0.4653428, abs=1e-6)
    # as the rrg metric scores them: punctuation split off, lower case (raw "effusion." ≠ "effusion")
    split = [split_punctuation(h) for h in hyps], [split_punctuation(r) for r in refs]
    assert split[0][1] == "small left pleural effusion with adjacent atelectasis ."
    assert corpus_bleu4(*split) == pytest.approx(0.1099768, abs=1e-6)
    assert corpus_bleu4(hyps, refs) < 1e-4  # no 4-gram survives attached punctuation


def test_bad_pairs_are_refused():
    with pytest.raises(InputError, match="2 hypotheses but 1 references"):
        corpus_bleu4(["a", "b"], ["a"])
    with pytest.raises(InputError, match="no report pairs"):
        rouge_l([], [])
    with pytest.raises(InputError, match="hypothesis 1 is a NoneType"):
        corpus_bleu4(["a", None], ["a", "b"])
    assert corpus_bleu4(["", "small effusion"], ["no effusion", "small effusion"]) < 1  # empty: scored, not dropped
    assert corpus_bleu4(["Überblähung der Lunge ñ"], ["Überblähung der Lunge ñ"]) == pytest.approx(1.0)


def test_bertscore_matches_its_definition_on_the_real_minilm(minilm):
    """bert-score computes it; here greedy cosine matching of the layer-6 token states from the definition,
    with transformers directly (no idf: each token of one side that is not [CLS]/[SEP] takes its best
    match among all tokens of the other side, special ones included, as bert-score does), and
    bert-score's own `score` call."""
    import torch
    from bert_score import score as bert_score
    from transformers import AutoModel, AutoTokenizer

    from cxrgen_bench.models.report.bertscore import BERTScore

    hyps, refs = pairs()
    hyps, refs = hyps[:6] + [""], refs[:6] + ["No pneumothorax."]
    ours = BERTScore({"model": "all-MiniLM-L6-v2", "num_layers": 6}, weights=minilm).score(hyps, refs)
    assert ours[-1].tolist() == [0.0, 0.0, 0.0]  # an empty report scores 0
    tok, model = AutoTokenizer.from_pretrained(minilm), AutoModel.from_pretrained(minilm).eval()

    def states(text):
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            h = model(**enc, output_hidden_states=True).hidden_states[6][0]
        return torch.nn.functional.normalize(h, dim=-1)

    for i, (h, r) in enumerate(zip(hyps[:-1], refs[:-1])):
        sim = states(h) @ states(r).T
        p, rec = sim[1:-1].max(dim=1).values.mean(), sim[:, 1:-1].max(dim=0).values.mean()
        assert ours[i, 2] == pytest.approx(float(2 * p * rec / (p + rec)), abs=1e-5)
    _, _, f = bert_score(hyps[:-1], refs[:-1], model_type=minilm, num_layers=6)
    np.testing.assert_allclose(ours[:-1, 2], f.numpy(), atol=1e-6)
    assert float(ours[:-1, 2].mean()) == pytest.approx(0.7527184, abs=1e-5)  # pinned on the committed pairs


def test_bertscore_missing_model_names_what_to_do():
    from cxrgen_bench.errors import WeightsError
    from cxrgen_bench.models.report.bertscore import BERTScore

    with pytest.raises(WeightsError, match="--weights bertscore=FOLDER"):
        BERTScore({"model": "distilbert-base-uncased", "num_layers": 5})


def radgraph_reference():
    spec = importlib.util.find_spec("radgraph")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("radgraph not installed (pip install radgraph==0.1.18)")
    path = Path(list(spec.submodule_search_locations)[0]) / "rewards.py"
    loader = importlib.util.spec_from_file_location("radgraph_rewards_reference", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)  # the reward code alone: the package's __init__ loads its model stack
    return module.compute_reward


def random_annotation(rng):
    tokens = ["effusion", "pleural", "left", "heart", "enlarged", "Opacity", "lobe", "lower", "edema"]
    labels = ["ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA"]
    n = rng.integers(0, 6)
    entities = {}
    for i in range(1, n + 1):
        rel = [[str(rng.choice(["modify", "located_at", "suggestive_of"])), str(rng.integers(1, n + 1))]
               for _ in range(rng.integers(0, 3))]
        entities[str(i)] = {"tokens": str(rng.choice(tokens)), "label": str(rng.choice(labels)), "relations": rel}
    return {"text": "", "entities": entities}


def test_radgraph_rewards_parity_with_the_radgraph_package():
    reference = radgraph_reference()
    rng = np.random.default_rng(0)
    for _ in range(300):
        a, b = random_annotation(rng), random_annotation(rng)
        for level in ("simple", "partial", "complete"):
            assert radgraph_reward(a, b, level) == pytest.approx(reference(a, b, level), abs=1e-12), level
        assert radgraph_reward(a, a, "partial") == (1.0 if a["entities"] else 0.0)


def test_radgraph_golden_values_of_the_package_test():
    """radgraph 0.1.18's own test annotations give (simple, partial, complete) means of
    (0.6238, 0.5111, 0.5011); a small case with the same structure is pinned here."""
    hyp = {"entities": {"1": {"tokens": "effusion", "label": "OBS-DP", "relations": [["located_at", "2"]]},
                        "2": {"tokens": "pleural", "label": "ANAT-DP", "relations": []},
                        "3": {"tokens": "Edema", "label": "OBS-DA", "relations": []}}}
    ref = {"entities": {"1": {"tokens": "effusion", "label": "OBS-DP", "relations": []},
                        "2": {"tokens": "pleural", "label": "ANAT-DP", "relations": []},
                        "3": {"tokens": "edema", "label": "OBS-DA", "relations": []}}}
    assert radgraph_reward(hyp, ref, "simple") == pytest.approx(2 / 3)
    assert radgraph_reward(hyp, ref, "partial") == pytest.approx(1 / 3)
    assert radgraph_reward(hyp, ref, "complete") == pytest.approx(1 / 3)
    assert radgraph_reward({"entities": {}}, ref) == 0.0
    with pytest.raises(ValueError, match="unknown"):
        radgraph_reward(hyp, ref, "xl")


def test_factent_follows_vilmedic():
    assert entity_f1(["effusion", "pleural"], ["effusion", "pleural"]) == 1.0
    assert entity_f1([], ["effusion"]) == 0.0 and entity_f1([], []) == 0.0
    # ViLMedic reuses the hypothesis-side match count as recall's numerator: a repeated match raises it
    p, r = 2 / 3, 2 / 1
    assert entity_f1(["effusion", "effusion", "heart"], ["effusion"]) == pytest.approx(2 * p * r / (p + r))
    p, r = 2 / 3, 1.0
    assert entity_f1(["effusion", "effusion", "heart"], ["effusion"], symmetric=True) == pytest.approx(
        2 * p * r / (p + r))


def test_factent_and_radgraph_say_what_they_need():
    from cxrgen_bench.models.report.entities import StanzaRadiologyNER, factent_text

    assert factent_text("Small Left Effusion .") == "small left effusion."
    try:
        import stanza  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match="factENT needs Stanza"):
            StanzaRadiologyNER()
    else:
        from cxrgen_bench.errors import WeightsError

        with pytest.raises(WeightsError, match="radiology NER models"):
            StanzaRadiologyNER("/nonexistent/stanza")


def test_factentnli_follows_vilmedic():
    from cxrgen_bench.functional.report_entities import entity_nli_f1

    hyp = [["effusion", "pleural"], ["pneumothorax"]]
    ref = [["effusion"], ["edema"]]
    # hyp: sentence 1 entailed (2 matches), sentence 2 neutral and "pneumothorax" absent from ref → 2/3
    # ref: sentence 1 neutral and "effusion" in hyp (1), sentence 2 contradicted (0) → 1/2
    p, r = 2 / 3, 1 / 2
    assert entity_nli_f1(hyp, ref, ["entailment", "neutral"], ["neutral", "contradiction"]) == pytest.approx(
        2 * p * r / (p + r))
    assert entity_nli_f1(hyp, ref, ["contradiction"] * 2, ["entailment"] * 2) == 0.0  # precision 0
    assert entity_nli_f1([], ref, [], ["neutral"] * 2) is None  # left out of the mean, as ViLMedic skips it
    assert entity_nli_f1(ref, ref, ["entailment"] * 2, ["entailment"] * 2) == 1.0


def test_factentnli_pairs_each_sentence_with_its_best_partner():
    """The orchestration with stand-in similarity (shared words) and NLI (contradiction when exactly one
    side says "no", else entailment when the words are equal, else neutral): hand-checked labels."""
    from cxrgen_bench.metrics.report_scorers import entity_nli_scores

    def similarity(a, b):
        return np.array([len(set(x.split()) & set(y.split())) for x, y in zip(a, b)], float)

    calls = []

    def nli(first, second):
        calls.extend(zip(first, second))
        return ["contradiction" if ("no" in a.split()) != ("no" in b.split()) else
                "entailment" if a == b else "neutral" for a, b in zip(first, second)]

    hyps = [[("small left effusion .", ["effusion"]), ("no pneumothorax .", ["pneumothorax"])], []]
    refs = [[("left effusion .", ["effusion"]), ("right pneumothorax .", ["pneumothorax"])],
            [("edema .", ["edema"])]]
    scores = entity_nli_scores(hyps, refs, similarity, nli)
    assert scores[1] is None  # no hypothesis sentence
    # hyp 1 ↔ ref 1 neutral, "effusion" in ref: match; hyp 2 ↔ ref 2 contradiction: no match → P = 1/2
    # ref 1 ↔ hyp 1 neutral: match; ref 2 ↔ hyp 2 contradiction → R = 1/2
    assert scores[0] == pytest.approx(0.5)
    assert ("no pneumothorax .", "right pneumothorax .") in calls and ("right pneumothorax .", "no pneumothorax .") in calls
