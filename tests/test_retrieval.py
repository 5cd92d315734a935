"""Retrieval Precision@k: parity with a brute-force definition (full sort), ties, labels absent from
the candidates, invariance to candidate order, a pinned value, and bad input."""
import numpy as np
import pytest

from cxrgen_bench.functional import precision_at_k
from cxrgen_bench.functional import topk as topk_module

LABELS = ["Atelectasis", "Cardiomegaly", "Edema", "Pleural Effusion", "Pneumothorax"]


def close(ours, expected):
    assert set(ours) == set(expected)
    for key, value in expected.items():
        if isinstance(value, dict):
            close(ours[key], value)
        else:
            assert ours[key] == pytest.approx(value, abs=1e-12), key


def reference(q, c, ql, cl, ks):
    """From the definition: every cosine similarity, candidates sorted (most similar first, earlier
    candidate first among equals), the share of the top k with the query's label."""
    q = np.asarray(q, float) / np.linalg.norm(q, axis=1, keepdims=True)
    c = np.asarray(c, float) / np.linalg.norm(c, axis=1, keepdims=True)
    per_query = []
    for i in range(len(q)):
        sims = [float(np.dot(q[i], c[j])) for j in range(len(c))]
        order = sorted(range(len(c)), key=lambda j: (-sims[j], j))
        per_query.append({k: np.mean([cl[j] == ql[i] for j in order[:k]]) for k in ks})
    overall = {f"precision@{k}": float(np.mean([p[k] for p in per_query])) for k in ks}
    per_label = {}
    for label in sorted(set(ql)):
        mine = [p for p, lab in zip(per_query, ql) if lab == label]
        per_label[label] = {**{f"precision@{k}": float(np.mean([p[k] for p in mine])) for k in ks},
                            "queries": len(mine), "candidates": list(cl).count(label)}
    return {**overall, "per_label": per_label}


def case(rng, integer):
    nq, nc, d = int(rng.integers(1, 40)), int(rng.integers(12, 90)), int(rng.integers(2, 8))
    if integer:  # scaled basis vectors: cosines exactly 0 or 1, so most candidates tie exactly
        q = np.eye(d)[rng.integers(0, d, nq)] * rng.integers(1, 4, (nq, 1))
        c = np.eye(d)[rng.integers(0, d, nc)] * rng.integers(1, 4, (nc, 1))
    else:
        q, c = rng.normal(size=(nq, d)), rng.normal(size=(nc, d))
    c[rng.integers(0, nc, 4)] = c[0]  # duplicated candidates
    ql = [str(x) for x in rng.choice(LABELS, nq)]
    cl = [str(x) for x in rng.choice(LABELS[:4], nc)]  # "Pneumothorax" queries have no candidate of their label
    return q, c, ql, cl


@pytest.mark.parametrize("integer", [False, True])
def test_parity_with_the_definition(integer, monkeypatch):
    monkeypatch.setattr(topk_module, "QUERY_BLOCK", 5)
    monkeypatch.setattr(topk_module, "CANDIDATE_CHUNK", 9)
    monkeypatch.setattr(topk_module, "MARGIN", 2)
    rng = np.random.default_rng(int(integer))
    for _ in range(30):
        q, c, ql, cl = case(rng, integer)
        ks = (1, 5, 10)
        ours = precision_at_k(q, c, ql, cl, ks=ks)
        expected = reference(q, c, ql, cl, ks)
        close(ours, expected)


def test_a_label_no_candidate_has_is_reported_not_dropped():
    rng = np.random.default_rng(3)
    result = precision_at_k(rng.normal(size=(4, 3)), rng.normal(size=(20, 3)), ["Pneumothorax"] * 2 + ["Edema"] * 2,
                            ["Edema"] * 20, ks=(5,))
    assert result["per_label"]["Pneumothorax"] == {"precision@5": 0.0, "queries": 2, "candidates": 0}
    assert result["per_label"]["Edema"]["precision@5"] == 1.0 and result["precision@5"] == 0.5


def test_invariant_to_candidate_order_without_ties():
    rng = np.random.default_rng(4)
    q, c = rng.normal(size=(30, 16)), rng.normal(size=(200, 16))
    ql, cl = [str(x) for x in rng.choice(LABELS, 30)], [str(x) for x in rng.choice(LABELS, 200)]
    base = precision_at_k(q, c, ql, cl)
    perm = rng.permutation(200)
    close(precision_at_k(q, c[perm], ql, [cl[i] for i in perm]), base)
    close(precision_at_k(q * 3.0, c * 0.2, ql, cl), base)  # cosine: scale-free


def test_pinned_value():
    q = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    c = np.array([[1.0, 0.1], [0.9, 0.0], [0.0, 1.0], [0.2, 1.0], [1.0, 0.9], [-1.0, 0.0]])
    cl = ["A", "A", "B", "B", "A", "B"]
    result = precision_at_k(q, c, ["A", "B", "A"], cl, ks=(1, 2, 3))
    # q0 → c1, c0, c4 (A A A); q1 → c2, c3, c4 (B B A); q2 → c4, c3, c0 (A B A)
    assert result["precision@1"] == pytest.approx(1.0)
    assert result["precision@2"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert result["precision@3"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_bad_input_is_named():
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match="Precision@50 needs at least 50 candidates; there are 20"):
        precision_at_k(rng.normal(size=(3, 4)), rng.normal(size=(20, 4)), ["A"] * 3, ["A"] * 20)
    bad = rng.normal(size=(3, 4))
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="embedding of query 1 has NaN"):
        precision_at_k(bad, rng.normal(size=(20, 4)), ["A"] * 3, ["A"] * 20, ks=(5,))
    with pytest.raises(ValueError, match="4 dimensions, candidates 5"):
        precision_at_k(rng.normal(size=(3, 4)), rng.normal(size=(20, 5)), ["A"] * 3, ["A"] * 20, ks=(5,))
