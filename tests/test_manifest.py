import numpy as np
import pytest

from cxrgen_bench.data import ImageSet, PromptSet
from cxrgen_bench.errors import InputError

from .conftest import write_gray


def make_folder(root, names):
    for i, name in enumerate(names):
        write_gray(root / name, np.full((8, 8), 10 * i))
    return root


def test_roentgen_layout_is_detected(tmp_path):
    s = ImageSet.from_folder(make_folder(tmp_path, ["a_0.png", "a_1.png", "b_0.png", "b_1.png"]))
    assert s.layout == "roentgen"
    assert s.prompt_ids == ["a", "b"]
    assert [r.sample_idx for r in s.by_prompt()["a"]] == [0, 1]
    assert [r.path.name for r in s.first_samples()] == ["a_0.png", "b_0.png"]


def test_names_with_large_numbers_are_not_misread_as_samples(tmp_path):
    s = ImageSet.from_folder(make_folder(tmp_path, ["person1_bacteria_4874.png", "person2_bacteria_4875.png"]))
    assert s.layout == "one-per-file"
    assert s.prompt_ids == ["person1_bacteria_4874", "person2_bacteria_4875"]


def test_content_hash_ignores_location_and_row_order(tmp_path):
    a = ImageSet.from_folder(make_folder(tmp_path / "a", ["x_0.png", "x_1.png"]))
    b = ImageSet.from_folder(make_folder(tmp_path / "b", ["x_0.png", "x_1.png"]))
    assert a.content_sha256 == b.content_sha256
    (tmp_path / "b" / "manifest.csv").write_text("prompt_id,sample_idx,path\nx,1,x_1.png\nx,0,x_0.png\n")
    assert ImageSet.from_folder(tmp_path / "b").content_sha256 == a.content_sha256
    write_gray(tmp_path / "b" / "x_1.png", np.full((8, 8), 99))
    assert ImageSet.from_folder(tmp_path / "b").content_sha256 != a.content_sha256


@pytest.mark.parametrize("manifest,match", [
    ("prompt_id,path\nx,x_0.png\n", "missing column.*sample_idx"),
    ("prompt_id,sample_idx,path\nx,0,gone.png\n", "row 2.*gone.png not found"),
    ("prompt_id,sample_idx,path\nx,0,x_0.png\nx,0,x_1.png\n", "row 3.*duplicate.*first at row 2"),
    ("prompt_id,sample_idx,path\nx,zero,x_0.png\n", "row 2.*not an integer"),
    ("prompt_id,sample_idx,path\n,0,x_0.png\n", "row 2.*empty prompt_id"),
])
def test_manifest_errors_name_file_and_row(tmp_path, manifest, match):
    make_folder(tmp_path, ["x_0.png", "x_1.png"])
    (tmp_path / "manifest.csv").write_text(manifest)
    with pytest.raises(InputError, match=match) as err:
        ImageSet.from_folder(tmp_path)
    assert "manifest.csv" in str(err.value)


def test_empty_folder(tmp_path):
    with pytest.raises(InputError, match="no images"):
        ImageSet.from_folder(tmp_path)


def test_prompts_csv(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("prompt_id,text,Pleural Effusion,Edema\n1,Small effusion,1,\n2,Edema?,0,-1.0\n")
    ps = PromptSet.from_csv(p)
    assert ps.label_names == ("Edema", "Pleural Effusion")
    assert ps.prompts["1"].labels == {"Edema": None, "Pleural Effusion": 1.0}
    assert ps.prompts["2"].labels["Edema"] == -1.0


@pytest.mark.parametrize("text,match", [
    ("prompt_id,caption\n1,x\n", "missing column.*text"),
    ("prompt_id,text\n1,\n", "row 2.*empty prompt text"),
    ("prompt_id,text\n1,a\n1,b\n", "row 3.*duplicate prompt_id"),
    ("prompt_id,text,Edema\n1,a,yes\n", "row 2.*Edema.*'yes'"),
])
def test_prompt_errors(tmp_path, text, match):
    p = tmp_path / "p.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=match):
        PromptSet.from_csv(p)


def test_non_utf8_prompts(tmp_path):
    p = tmp_path / "p.csv"
    p.write_bytes("prompt_id,text\n1,épanchement\n".encode("latin-1"))
    with pytest.raises(InputError, match="UTF-8"):
        PromptSet.from_csv(p)
