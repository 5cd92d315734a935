import csv
import json

import pytest

from cxrgen_bench.cli import main
from cxrgen_bench.data import PromptSet
from cxrgen_bench.data.datasets.mimic import MimicCXR
from cxrgen_bench.data.datasets.openi import OpenI
from cxrgen_bench.data.datasets.padchest import PadChest, build_prompt, chexpert_labels
from cxrgen_bench.data.labels import CONSUMER_POLICIES, policy_for
from cxrgen_bench.data.sections import impression, impression_or_fallback
from cxrgen_bench.data.stats import table1_column
from cxrgen_bench.errors import InputError
from cxrgen_bench.registry import DATASETS

from .mimic_fixture import make_mimic


@pytest.fixture
def mimic(tmp_path):
    return make_mimic(tmp_path / "mimic")


def test_datasets_are_registered():
    assert {"mimic-cxr", "openi", "padchest"} <= set(DATASETS.names())


# --- sections ------------------------------------------------------------------------------------

@pytest.mark.parametrize("report,expected", [
    ("FINDINGS: x.\n\nIMPRESSION: Small effusion.", "Small effusion."),
    ("IMPRESSION:\n 1. Small effusion.\n 2. No pneumothorax.", "1. Small effusion. 2. No pneumothorax."),
    ("impression: lower-case header is not a header", ""),
    ("CONCLUSION: Normal study.", "Normal study."),
    ("FINDINGS AND IMPRESSION: Clear lungs.", "Clear lungs."),
    ("IMPRESSION: Compared to ___, no change.", "Compared to, no change."),
])
def test_impression_variants(report, expected):
    assert impression(report) == expected


def test_fallbacks_are_explicit():
    assert impression_or_fallback("FINDINGS: Clear lungs.") == ("Clear lungs.", "findings")
    assert impression_or_fallback("Clear lungs, no effusion.") == ("Clear lungs, no effusion.", "last paragraph")
    assert impression_or_fallback("") == ("", "none")


# --- MIMIC-CXR -----------------------------------------------------------------------------------

def test_mimic_p19_pa_applies_the_paper_filters(mimic):
    table = MimicCXR(mimic, strict=False).prompts(split="p19", views=("PA",))
    assert [r["prompt_id"] for r in table.rows] == ["d07", "d08"]
    assert table.rows[0]["text"] == "Large right pneumothorax." and table.rows[0]["Pneumothorax"] == 1.0
    assert table.rows[0]["image_path"] == "files/p19/p19000004/s50000006/d07.jpg"
    skipped = table.description["skipped"]
    assert skipped["impression longer than 77 CLIP tokens"]["count"] == 1


def test_mimic_train_excludes_test_studies_and_other_groups(mimic):
    table = MimicCXR(mimic, strict=False).prompts(split="train", views=None)
    ids = [r["prompt_id"] for r in table.rows]
    assert ids == ["d01", "d02", "d03", "d04"]  # d09: official test study; p19 excluded; d05: no impression
    skipped = table.description["skipped"]
    assert skipped["no impression section"]["count"] == 1
    assert skipped["report file missing"]["count"] == 1
    pa = MimicCXR(mimic, strict=False).prompts(split="train", views=("PA",))
    assert [r["prompt_id"] for r in pa.rows] == ["d01", "d04"]


def test_mimic_strict_names_the_missing_report(mimic):
    with pytest.raises(InputError, match=r"s50000009\.txt.*--lenient"):
        MimicCXR(mimic, strict=True).prompts(split="train", views=("PA",))


def test_mimic_official_split_min_chars_and_caps(mimic):
    test = MimicCXR(mimic, strict=False).prompts(split="test", views=None)
    assert [r["prompt_id"] for r in test.rows] == ["d09"] and test.rows[0]["Cardiomegaly"] == -1.0
    short = MimicCXR(mimic, strict=False).prompts(split="p11", views=None, min_chars=8)
    assert short.rows == [] and "impression shorter than 8 characters" in short.description["skipped"]
    capped = MimicCXR(mimic, strict=False).prompts(split="p10-p18", views=None, no_finding_cap=1)
    assert sum(r["No Finding"] == 1.0 for r in capped.rows) == 1
    limited = MimicCXR(mimic, strict=False).prompts(split="train", views=None, limit=2, seed=3)
    assert len(limited.rows) == 2
    assert limited.rows == MimicCXR(mimic, strict=False).prompts(split="train", views=None, limit=2, seed=3).rows


def test_mimic_uncompressed_csvs_and_bad_input(tmp_path):
    root = make_mimic(tmp_path / "plain", gz=False)
    assert MimicCXR(root, strict=False).prompts(split="p19").rows
    text = (root / "mimic-cxr-2.0.0-chexpert.csv").read_text().replace(",1.0,", ",yes,", 1)
    (root / "mimic-cxr-2.0.0-chexpert.csv").write_text(text)
    with pytest.raises(InputError, match=r"chexpert.csv, row \d.*'yes'"):
        MimicCXR(root, strict=True).prompts(split="p19")
    lenient = MimicCXR(root, strict=False).prompts(split="train", views=None)
    assert lenient.description["skipped"]["invalid CheXpert label value"]["count"] == 1
    (root / "mimic-cxr-2.0.0-split.csv").write_text("dicom_id,study_id\nd01,1\n")
    with pytest.raises(InputError, match="split.csv: missing column.*subject_id"):
        MimicCXR(root, strict=False).prompts(split="p19")
    with pytest.raises(InputError, match="unknown split"):
        MimicCXR(make_mimic(tmp_path / "again")).prompts(split="p2")


def test_table1_statistics_by_hand(mimic):
    rows = MimicCXR(mimic, strict=False).prompts(split="train", views=None).rows
    col = table1_column(rows)
    texts = ["Small left pleural effusion."] * 2 + ["No acute cardiopulmonary process.", "Normal."]
    assert col["n"] == 4
    assert col["positives"]["Pleural Effusion"] == 2 and col["positives"]["No Finding"] == 2
    assert col["chars"]["mean"] == pytest.approx(sum(map(len, texts)) / 4)  # (28 + 28 + 33 + 7) / 4 = 24.0
    assert col["chars"]["mean"] == pytest.approx(24.0)
    import statistics
    assert col["chars"]["std"] == pytest.approx(statistics.stdev([28, 28, 33, 7]))


def test_cli_prompts_csv_is_a_valid_prompt_set(mimic, tmp_path, capsys):
    out = tmp_path / "p19.csv"
    assert main(["data", "prompts", "--dataset", "mimic-cxr", "--root", str(mimic), "--split", "p19", "--out", str(out)]) == 0
    prompts = PromptSet.from_csv(out)
    assert set(prompts.prompts) == {"d07", "d08"} and prompts.prompts["d08"].labels["Pneumothorax"] == 0.0
    header = next(csv.reader(out.open()))
    assert header[:2] == ["prompt_id", "text"] and "view" in header and "image_path" in header
    description = json.loads((tmp_path / "p19.csv.json").read_text())
    assert description["prompts"] == 2 and "licence" in description
    assert main(["data", "stats", "--dataset", "mimic-cxr", "--root", str(mimic)]) == 0
    out_text = capsys.readouterr().out
    assert "| PA train | PA/AP/LAT train | MIMIC test | P19 test |" in out_text


# --- OpenI (the real shipped file) ---------------------------------------------------------------

def test_openi_real_reports():
    reports = list(OpenI().reports())
    assert len(reports) == 3955
    first = reports[0]
    assert first["uid"] == "CXR1" and first["impression"] == "Normal chest x-ray."
    assert first["mesh_major"] == ["normal"] and first["licence_url"].endswith("by-nc-nd/4.0/")
    assert sum(bool(r["findings"]) for r in reports) > 3000
    assert not any("XXXX" in r["impression"] for r in reports)


def test_openi_prompts_and_no_images(tmp_path):
    table = OpenI().prompts()
    assert len(table.rows) == 3955 - table.description["skipped"]["no impression text"]["count"]
    assert "CC BY-NC-ND 4.0" in table.description["licence"] and table.description["has_images"] is False
    with pytest.raises(InputError, match="no images"):
        OpenI().image_root()


# --- PadChest ------------------------------------------------------------------------------------

def test_padchest_template_matches_the_paper_example():
    text = build_prompt(47, "male", "PA", "PA", "DX", "calcified granuloma, loc right upper lobe")
    assert text == ("chest x-ray, age 47 male, view PA, projection PA, modality DX, "
                    "diagnosis calcified granuloma, loc right upper lobe")


def test_padchest_label_mapping():
    labels = chexpert_labels(["costophrenic angle blunting", "NSG tube", "COPD signs"])
    assert labels["Pleural Effusion"] == 1.0 and labels["Support Devices"] == 1.0 and labels["Pneumonia"] == 0.0


PADCHEST_HEADER = ("ImageID,ImageDir,StudyDate_DICOM,PatientBirth,PatientSex_DICOM,ViewPosition_DICOM,Projection,"
                   "Modality_DICOM,Labels,LabelsLocalizationsBySentence\n")


def test_padchest_fixture_with_images_and_malformed_rows(tmp_path):
    root = tmp_path / "padchest"
    (root / "0").mkdir(parents=True)
    (root / "0" / "a.png").write_bytes(b"png")
    rows = [
        "a.png,0,20140915,1967.0,M,POSTEROANTERIOR,PA,DX,\"['calcified granuloma']\",\"[['calcified granuloma', 'loc right upper lobe']]\"",
        "b.png,0,20140915,1950.0,F,nan,PA,CR,\"['normal']\",\"[['normal']]\"",  # image missing
        "c.png,0,20140915,1950.0,F,LATERAL,L,CR,nan,nan",  # malformed labels
    ]
    (root / "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv").write_text(PADCHEST_HEADER + "\n".join(rows) + "\n")
    table = PadChest(root, strict=False).prompts()
    assert [r["prompt_id"] for r in table.rows] == ["a.png"]
    assert table.rows[0]["text"] == ("chest x-ray, age 47 male, view PA, projection PA, modality DX, "
                                     "diagnosis calcified granuloma, loc right upper lobe")
    assert table.rows[0]["image_path"] == "0/a.png"
    assert set(table.description["skipped"]) == {"image file missing", "unparseable Labels/LabelsLocalizationsBySentence"}
    with pytest.raises(InputError, match="b.png"):
        PadChest(root, strict=True).prompts()


def test_padchest_real_label_csv_offline():
    table = PadChest(strict=False).prompts(views=("PA",), limit=500, seed=0)
    assert len(table.rows) == 500 and table.description["has_images"] is False
    assert all(r["text"].startswith("chest x-ray, age ") and ", view PA, " in r["text"] for r in table.rows)


# --- label policies and the label command --------------------------------------------------------

def test_one_policy_per_consumer():
    assert set(CONSUMER_POLICIES) == {"classifier_auroc", "retrieval", "augmentation", "chexpert_at_k"}
    assert policy_for("chexpert_at_k").uncertain is None and policy_for("chexpert_at_k").blank == 0.0
    assert policy_for("classifier_auroc").apply(-1.0) == 1.0
    import math
    assert math.isnan(policy_for("retrieval").apply(-1.0)) and policy_for("retrieval").apply(None) == 0.0


def test_label_command_prints_all_14(capsys):
    assert main(["data", "label", "Small left pleural effusion. No pneumothorax.", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 14 and out["Pleural Effusion"] == 1 and out["Pneumothorax"] == 0 and out["Edema"] is None


def test_clip_token_counts_are_open_clips_tokenizer():
    """The tokenizer module is loaded on its own (no `import open_clip`): the counts are the package's."""
    from open_clip.tokenizer import SimpleTokenizer

    from cxrgen_bench.data.tokens import clip_token_count, fits_clip_context

    reference = SimpleTokenizer()
    for text in ("Small left pleural effusion. No pneumothorax.", "Normal chest radiograph.",
                 "Interval increase in bilateral perihilar opacities, consistent with pulmonary edema. " * 4):
        assert clip_token_count(text) == len(reference.encode(text))
    assert fits_clip_context("Normal.") and not fits_clip_context("word " * 80)
