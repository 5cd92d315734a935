"""The evaluation context's text providers: generated reports and labels are computed once, cached by
content × model × settings, and a report generator that misbehaves is named, not trusted."""
import numpy as np
import pytest

from cxrgen_bench.cache import Cache
from cxrgen_bench.data import ImageSet
from cxrgen_bench.data.labeller import label_report
from cxrgen_bench.data.labels import CHEXPERT_14
from cxrgen_bench.errors import InputError
from cxrgen_bench.evaluation import EvaluationContext, ImageSetSubject
from cxrgen_bench.profiles import get_profile
from cxrgen_bench.registry import LABELLERS, REPORT_GENERATORS

from .plugins import reporters


@pytest.fixture
def ctx(synthetic_sets, tmp_path):
    subject = ImageSetSubject(ImageSet.from_folder(synthetic_sets["gen"]))
    return EvaluationContext(subject, get_profile("roentgen2022"), Cache(tmp_path / "cache"))


def test_generated_reports_are_cached_by_image_content_and_generator(ctx):
    records = ctx.subject.images.first_samples()
    generator = REPORT_GENERATORS.get("callable")("tests.plugins.reporters:describe_brightness", settings={"beams": 1})
    reporters.CALLS.clear()
    first = ctx.generated_reports(records, generator)
    assert len(first) == len(records) and set(first) <= {"Dense opacification.", "Clear lungs."}
    assert sum(reporters.CALLS) == len(records)
    assert ctx.generated_reports(records, generator) == first and sum(reporters.CALLS) == len(records)
    other = REPORT_GENERATORS.get("callable")("tests.plugins.reporters:describe_brightness", settings={"beams": 4})
    ctx.generated_reports(records, other)  # other decoding settings: other cache entries
    assert sum(reporters.CALLS) == 2 * len(records)
    assert generator.describe()["source"] == "python callable" and len(generator.weights_sha256) == 64


@pytest.mark.parametrize("target,match", [("one_short", "returned 5 reports for 6 images"),
                                          ("not_text", "returned a float instead of a string")])
def test_a_misbehaving_report_generator_is_named(ctx, target, match):
    generator = REPORT_GENERATORS.get("callable")(f"tests.plugins.reporters:{target}")
    with pytest.raises(InputError, match=match):
        ctx.generated_reports(ctx.subject.images.first_samples(), generator)
    with pytest.raises(InputError, match="cannot be imported"):
        REPORT_GENERATORS.get("callable")("tests.plugins.reporters:missing")


def test_labels_come_from_the_labeller_once(ctx, monkeypatch):
    labeller = LABELLERS.get("rule-based")()
    texts = ["Small left pleural effusion. No pneumothorax.", "Possible right lower lobe pneumonia.", "Normal."]
    labels = ctx.labels(texts, labeller)
    assert labels.shape == (3, 14)
    for row, text in zip(labels, texts):
        expected = label_report(text)
        assert [None if np.isnan(v) else v for v in row] == [expected[c] for c in CHEXPERT_14]
    monkeypatch.setattr(type(labeller), "annotate", lambda self, t: pytest.fail("labels were not cached"))
    np.testing.assert_array_equal(ctx.labels(texts, labeller), labels)
