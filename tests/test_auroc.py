import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cxrgen_bench.functional import binary_auroc, classwise_auroc, filtered_average, macro_average


def test_parity_with_sklearn_including_ties():
    rng = np.random.default_rng(0)
    for trial in range(20):
        n = int(rng.integers(5, 300))
        y = rng.integers(0, 2, n)
        if y.min() == y.max():
            continue
        s = np.round(rng.normal(size=n) + y * rng.uniform(0, 2), int(rng.integers(0, 3)))  # rounding → ties
        assert abs(binary_auroc(s, y) - roc_auc_score(y, s)) < 1e-12


def test_classwise_with_unknown_labels_matches_sklearn_on_known_rows():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(100, 3))
    labels = rng.integers(0, 2, (100, 3)).astype(float)
    labels[rng.random((100, 3)) < 0.2] = np.nan
    out = classwise_auroc(scores, labels, ["A", "B", "C"])
    for j, name in enumerate("ABC"):
        keep = ~np.isnan(labels[:, j])
        assert abs(out[name] - roc_auc_score(labels[keep, j], scores[keep, j])) < 1e-12


def test_single_label_value_is_undefined_not_half():
    out = classwise_auroc(np.array([[0.1], [0.9], [0.5]]), np.array([[1.0], [1.0], [np.nan]]), ["Fracture"])
    assert out == {"Fracture": None}


def test_invariances():
    rng = np.random.default_rng(2)
    s, y = rng.normal(size=80), rng.integers(0, 2, 80)
    base = binary_auroc(s, y)
    perm = rng.permutation(80)
    assert binary_auroc(s[perm], y[perm]) == pytest.approx(base, abs=1e-15)
    assert binary_auroc(np.exp(s) * 3 + 1, y) == pytest.approx(base, abs=1e-15)  # any monotone map
    assert binary_auroc(-s, y) == pytest.approx(1 - base, abs=1e-12)


def test_filtered_average_uses_the_baseline_row():
    baseline = {"Atelectasis": 0.80, "Fracture": 0.45, "Edema": 0.90, "Pneumonia": 0.70, "Lung Lesion": None}
    generated = {"Atelectasis": 0.70, "Fracture": 0.60, "Edema": 0.80, "Pneumonia": 0.99, "Lung Lesion": 0.5}
    value, classes = filtered_average(generated, baseline, 0.75)
    assert classes == ["Atelectasis", "Edema"]
    assert value == pytest.approx(0.75)
    assert macro_average({"a": None}) is None


def test_pinned_value():
    s = [0.1, 0.4, 0.35, 0.8, 0.35, 0.9, 0.2]
    y = [0, 0, 1, 1, 0, 1, 0]
    assert binary_auroc(s, y) == pytest.approx(10.5 / 12, abs=1e-15)


def test_bad_labels_are_rejected():
    with pytest.raises(ValueError, match="0, 1 or NaN"):
        binary_auroc([0.1, 0.2], [2, 0])


def test_nan_or_infinite_scores_are_refused_not_ranked():
    from cxrgen_bench.functional import binary_auroc

    with pytest.raises(ValueError, match="NaN or infinite"):
        binary_auroc([0.1, float("nan"), 0.8, 0.3], [0, 1, 1, 0])
    with pytest.raises(ValueError, match="NaN or infinite"):
        binary_auroc([0.1, float("inf"), 0.8], [0, 1, 1])
    assert binary_auroc([0.1, float("nan"), 0.8, 0.3], [0, float("nan"), 1, 0]) == 1.0  # unlabelled row ignored
