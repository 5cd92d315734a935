"""CheXpert@k: parity with a brute-force implementation written from the definition (full sort of
every report's similarities), invariances, a pinned value on a committed fixture, the metric end to
end on a real encoder (MiniLM) and the bag-of-words baseline, and bad input."""
import json
from pathlib import Path

import numpy as np
import pytest

import cxrgen_bench
from cxrgen_bench.errors import InputError
from cxrgen_bench.functional import chexpert_at_k
from cxrgen_bench.functional import topk as module
from cxrgen_bench.functional.topk import nearest_neighbours

FIXTURE = Path(__file__).parent / "data" / "chexpert_at_k_fixture.json"


def reference(embeddings, labels, k, similarity):
    """CheXpert@k from its definition: every similarity, sorted (most similar first, earlier report first
    among equals), oneself excluded; per class the mean over its positives of the share of positive
    neighbours; classes with fewer than k + 1 positives undefined."""
    x = np.asarray(embeddings, dtype=np.float64)
    n = len(x)
    if similarity == "jaccard":
        sets = [set(np.nonzero(row)[0]) for row in x]
        sims = np.array([[len(a & b) / len(a | b) if a | b else 0.0 for b in sets] for a in sets])
    else:
        if similarity == "cosine":
            x = x / np.linalg.norm(x, axis=1, keepdims=True)
        sims = np.array([[float(np.dot(a, b)) for b in x] for a in x])
    y = np.asarray(labels, dtype=np.float64)
    per_class = {}
    for c in range(y.shape[1]):
        positives = [i for i in range(n) if y[i, c] == 1]
        if len(positives) < k + 1 or k >= n:
            per_class[c] = None
            continue
        shares = []
        for i in positives:
            order = sorted((j for j in range(n) if j != i), key=lambda j: (-sims[i, j], j))[:k]
            shares.append(np.mean([y[j, c] == 1 for j in order]))
        per_class[c] = float(np.mean(shares))
    defined = [v for v in per_class.values() if v is not None]
    return per_class, (float(np.mean(defined)) if defined else None)


def random_case(rng, similarity):
    n, d, classes = int(rng.integers(3, 70)), int(rng.integers(2, 9)), int(rng.integers(1, 5))
    if similarity == "dot":
        x = rng.integers(-2, 3, (n, d)).astype(float)  # small integers: exact ties between distinct reports
    elif similarity == "jaccard":
        x = (rng.random((n, d + 5)) < 0.3).astype(float)
    else:
        x = rng.normal(size=(n, d))
    x[rng.integers(0, n, 4)] = x[0]  # duplicate reports tie exactly
    if similarity == "cosine":
        x[np.linalg.norm(x, axis=1) == 0] = 1.0
    labels = (rng.random((n, classes)) < rng.uniform(0.1, 0.7)).astype(float)
    labels[rng.random((n, classes)) < 0.1] = np.nan
    return x, labels, int(rng.integers(1, n + 2))  # k up to n + 1: "k ≥ n" included


@pytest.mark.parametrize("similarity", ["dot", "cosine", "jaccard"])
def test_parity_with_the_brute_force_definition(similarity, monkeypatch):
    # tiny blocks and chunks: every merge, margin cut and exact fallback runs on small inputs
    monkeypatch.setattr(module, "QUERY_BLOCK", 7)
    monkeypatch.setattr(module, "CANDIDATE_CHUNK", 11)
    monkeypatch.setattr(module, "MARGIN", 2)
    rng = np.random.default_rng({"dot": 0, "cosine": 1, "jaccard": 2}[similarity])
    for _ in range(40):
        x, labels, k = random_case(rng, similarity)
        ours = chexpert_at_k(x, labels, k=k, similarity=similarity)
        per_class, macro = reference(x, labels, k, similarity)
        assert [ours["per_class"][str(c)] for c in per_class] == pytest.approx(list(per_class.values()), abs=1e-12)
        assert ours["macro"] == pytest.approx(macro, abs=1e-12)
        assert ours["n_per_class"] == {str(c): int((labels[:, c] == 1).sum()) for c in per_class}


def test_neighbours_break_ties_by_report_order():
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    assert nearest_neighbours(x, 3, "dot").tolist() == [[1, 3, 4], [0, 3, 4], [0, 1, 3], [0, 1, 4], [0, 1, 3]]


def test_invariant_to_report_order_and_to_scale():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(80, 12))  # continuous: no ties, so the order of reports cannot matter
    labels = (rng.random((80, 3)) < 0.4).astype(float)
    base = chexpert_at_k(x, labels, k=5, similarity="cosine")

    def same(result, expected):  # equal up to the order floating-point sums are taken in
        assert result["n_per_class"] == expected["n_per_class"]
        assert result["per_class"] == pytest.approx(expected["per_class"], abs=1e-12)

    perm = rng.permutation(80)
    same(chexpert_at_k(x[perm], labels[perm], k=5, similarity="cosine"), base)
    same(chexpert_at_k(x * 7.3, labels, k=5, similarity="cosine"), base)
    same(chexpert_at_k(x * 0.01, labels, k=5, similarity="dot"), chexpert_at_k(x, labels, k=5, similarity="dot"))


def test_pinned_value_on_the_committed_fixture():
    data = json.loads(FIXTURE.read_text())
    labels = np.array([[np.nan if v is None else v for v in row] for row in data["labels"]])
    dot = chexpert_at_k(np.array(data["embeddings"]), labels, k=3, similarity="dot", class_names=data["classes"])
    assert dot["per_class"] == pytest.approx({"Effusion": 5 / 24, "Edema": 8 / 27, "Pneumothorax": 0.4}, abs=1e-12)
    assert dot["macro"] == pytest.approx((5 / 24 + 8 / 27 + 0.4) / 3, abs=1e-12)
    assert dot["n_per_class"] == {"Effusion": 8, "Edema": 9, "Pneumothorax": 10}


def test_bad_embeddings_and_labels_are_named():
    with pytest.raises(ValueError, match="embedding of report 1 has NaN"):
        chexpert_at_k(np.array([[1.0, 0], [np.nan, 1], [0, 1]]), np.ones((3, 1)), k=1)
    with pytest.raises(ValueError, match="embedding of report 2 is all zeros"):
        chexpert_at_k(np.array([[1.0, 0], [0, 1], [0, 0]]), np.ones((3, 1)), k=1, similarity="cosine")
    with pytest.raises(ValueError, match="1, 0 or NaN"):
        chexpert_at_k(np.eye(3), np.full((3, 1), -1.0), k=1)
    with pytest.raises(ValueError, match="binary"):
        chexpert_at_k(np.full((3, 2), 0.5), np.ones((3, 1)), k=1, similarity="jaccard")
    assert chexpert_at_k(np.eye(1), np.ones((1, 1)), k=10) == {"per_class": {"0": None}, "macro": None,
                                                               "n_per_class": {"0": 1}}


REPORTS = [("Small left pleural effusion.", 1, 0), ("Moderate right pleural effusion.", 1, 0),
           ("Large bilateral pleural effusions.", 1, 0), ("Tiny left effusion.", 1, 0),
           ("Cardiomegaly.", 0, 1), ("The heart is enlarged.", 0, 1), ("Moderate cardiomegaly.", 0, 1),
           ("Marked enlargement of the cardiac silhouette.", 0, 1), ("Possible small effusion.", -1, 0),
           ("Effusion and cardiomegaly.", 1, 1)]


@pytest.fixture
def reports_csv(tmp_path):
    rows = ["prompt_id,text,Pleural Effusion,Cardiomegaly"] + [f'r{i},"{t}",{e},{c}' for i, (t, e, c) in
                                                               enumerate(REPORTS)]
    path = tmp_path / "reports.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def profile(tmp_path, **settings):
    block = {"k": 2, "similarity": "cosine", "mode": "single-label", **settings}
    path = tmp_path / "p.yaml"
    path.write_text(json.dumps({"extends": "roentgen2022", "name": "t", "version": "1",
                                "metrics": {"chexpert_at_k": block}}))
    return path


def test_metric_on_the_real_minilm(minilm, reports_csv, tmp_path):
    result = cxrgen_bench.score(text_encoder=minilm, reports=reports_csv, metrics="chexpert_at_k",
                                profile=profile(tmp_path), extraction="cls,mean", bootstrap=100,
                                cache_dir=tmp_path / "c")
    plain, cls_, mean = (result["metrics"][k] for k in ("chexpert_at_k", "chexpert_at_k[cls]", "chexpert_at_k[mean]"))
    assert plain["value"] == cls_["value"] and plain["details"]["extraction"] == "cls"
    details = mean["details"]
    # single-label: the uncertain report and the one with two findings do not take part
    assert details["selection"]["reports_used"] == 8 and details["mode"] == "single-label"
    assert set(details["per_class"]) == {"Pleural Effusion", "Cardiomegaly"}
    assert mean["value"] > 0.5  # a real encoder puts effusions near effusions
    assert mean["ci95"][0] <= mean["value"] <= mean["ci95"][1] and len(mean["bootstrap"]["replicates"]) == 100
    # multi-label: every report, per class its positives
    multi = cxrgen_bench.score(text_encoder=minilm, reports=reports_csv, metrics="chexpert_at_k",
                               profile=profile(tmp_path, mode="multi-label"), cache_dir=tmp_path / "c")
    assert multi["metrics"]["chexpert_at_k"]["details"]["selection"]["reports_used"] == 10


def test_bag_of_words_baseline(reports_csv, tmp_path):
    result = cxrgen_bench.score(text_encoder="bow", reports=reports_csv, metrics="chexpert_at_k",
                                profile=profile(tmp_path), cache_dir=tmp_path / "c")
    assert set(result["metrics"]) == {"chexpert_at_k"}  # no extraction named: the plain key alone
    entry = result["metrics"]["chexpert_at_k"]
    assert entry["details"]["similarity"] == "jaccard" and entry["details"]["extraction"] == "words"
    assert 0 <= entry["value"] <= 1
    assert result["subject"]["encoder"] == "bow"


def test_bad_report_sets(minilm, reports_csv, tmp_path):
    small = cxrgen_bench.score(text_encoder="bow", reports=reports_csv, metrics="chexpert_at_k",
                               profile=profile(tmp_path, k=10), cache_dir=tmp_path / "c")
    assert small["status"] == "partial"
    assert "needs more than k = 10 reports; 8 of 10" in small["metrics"]["chexpert_at_k"]["error"]
    unlabeled = tmp_path / "unlabeled.csv"
    unlabeled.write_text("prompt_id,text\na,Effusion.\nb,Normal.\n")
    with pytest.raises(InputError, match="metric chexpert_at_k needs CheXpert label columns"):
        cxrgen_bench.score(text_encoder="bow", reports=unlabeled, metrics="chexpert_at_k")
    no_text = tmp_path / "no_text.csv"
    no_text.write_text("prompt_id,Edema\na,1\n")
    with pytest.raises(InputError, match="missing column.*text"):
        cxrgen_bench.score(text_encoder="bow", reports=no_text, metrics="chexpert_at_k")
    with pytest.raises(InputError, match="has no 'pooler' extraction"):
        cxrgen_bench.score(text_encoder="bow", reports=reports_csv, metrics="chexpert_at_k", extraction="pooler")


def test_pool_bootstrap_recomputes_neighbourhoods_among_the_drawn_reports():
    """Each replicate equals CheXpert@k computed from the definition on the distinct drawn reports,
    with every query counted as often as it was drawn."""
    from cxrgen_bench.functional.bootstrap import resample_weights
    from cxrgen_bench.functional.text_knowledge import pool_bootstrap

    rng = np.random.default_rng(9)
    x = rng.normal(size=(60, 5))
    labels = (rng.random((60, 2)) < 0.4).astype(float)
    k = 4
    weights = resample_weights(60, 5, 3)
    replicates, short = pool_bootstrap(nearest_neighbours(x, 59, "cosine"), labels, k, [0, 1], weights)
    assert short == 0
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    for w, value in zip(weights, replicates):
        drawn = np.nonzero(w)[0]
        per_class = []
        for c in range(2):
            num = den = 0.0
            for i in drawn:
                if labels[i, c] != 1:
                    continue
                others = sorted((j for j in drawn if j != i), key=lambda j: (-float(unit[i] @ unit[j]), j))[:k]
                num += w[i] * np.mean([labels[j, c] == 1 for j in others])
                den += w[i]
            per_class.append(num / den)
        assert value == pytest.approx(np.mean(per_class), abs=1e-12)
