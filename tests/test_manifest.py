import re

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


# --- the layout rule (module docstring of cxrgen_bench/data/manifest.py) ----------------------------

@pytest.mark.parametrize("names,match", [
    (["a_1.png", "a_2.png", "b_0.png", "b_1.png"], r"'a' lacks \[0\]"),  # a_0 deleted: not another layout
    (["a_0.png", "a_2.png", "a_3.png", "b_0.png"], r"'a' lacks \[1\]"),
    (["a_0.png", "a_1.png", "b_0.png", "b_3.png", "c_0.png", "c_2.png"], r"2 prompt\(s\).*'b' lacks \[1, 2\]; 'c' lacks \[1\]"),
    (["a_0.png", "a_1.png", "readme.png"], r"1 file\(s\) are not named so: 'readme.png'"),
    (["a_0.png", "a_0.jpg"], r"a_0.(png|jpg) and a_0.(png|jpg) are both prompt 'a' sample 0"),
])
def test_a_roentgen_folder_with_gaps_or_odd_files_is_an_error_naming_them(tmp_path, names, match):
    with pytest.raises(InputError, match=match) as err:
        ImageSet.from_folder(make_folder(tmp_path, names))
    assert str(tmp_path) in str(err.value)


def test_layout_rule_without_a_first_sample_and_forced_layouts(tmp_path):
    # no {id}_0 anywhere: names, not samples (the documented limit: one prompt that lost sample 0)
    lost = ImageSet.from_folder(make_folder(tmp_path / "a", ["p0_1.png", "p0_2.png"]))
    assert lost.layout == "one-per-file" and lost.prompt_ids == ["p0_1", "p0_2"] and not lost.layout_forced
    gap = make_folder(tmp_path / "b", ["a_0.png", "a_2.png"])
    forced = ImageSet.from_folder(gap, layout="one-per-file")
    assert forced.layout == "one-per-file" and forced.prompt_ids == ["a_0", "a_2"] and forced.describe()["layout_forced"]
    with pytest.raises(InputError, match=r"--layout roentgen.*'b.png'"):
        ImageSet.from_folder(make_folder(tmp_path / "c", ["a_1.png", "b.png"]), layout="roentgen")
    with pytest.raises(InputError, match="manifest.csv: manifest not found"):
        ImageSet.from_folder(gap, layout="manifest")
    with pytest.raises(InputError, match="layout 'flat'"):
        ImageSet.from_folder(gap, layout="flat")
    (gap / "manifest.csv").write_text("prompt_id,sample_idx,path\na,0,a_0.png\na,1,a_2.png\n")
    assert ImageSet.from_folder(gap).layout == "manifest"  # a manifest.csv decides when present
    assert ImageSet.from_folder(gap, layout="one-per-file").layout == "one-per-file"  # unless told otherwise
    with pytest.raises(InputError, match="drop one"):
        ImageSet.from_folder(gap, manifest=gap / "manifest.csv", layout="roentgen")


def test_symlinks_are_followed_and_broken_ones_named(tmp_path):
    real = make_folder(tmp_path / "real", ["x.png"])
    folder = make_folder(tmp_path / "set", ["a_0.png"])
    (folder / "a_1.png").symlink_to(real / "x.png")
    assert [r.path.name for r in ImageSet.from_folder(folder).records] == ["a_0.png", "a_1.png"]
    (folder / "a_2.png").symlink_to(tmp_path / "missing.png")
    with pytest.raises(InputError, match=r"a_2.png: symbolic link that leads nowhere .*missing.png"):
        ImageSet.from_folder(folder)
    (folder / "a_2.png").unlink()
    (folder / "manifest.csv").symlink_to(folder / "manifest.csv")
    with pytest.raises(InputError, match=r"manifest.csv: symbolic link that loops"):
        ImageSet.from_folder(folder)


@pytest.mark.parametrize("path,inside", [("x_0.png", True), ("sub/../x_0.png", True), ("./x_0.png", True),
                                         ("../x_0.png", False), ("sub/../../x_0.png", False), ("/x_0.png", False)])
def test_manifest_paths_stay_inside_the_folder(tmp_path, path, inside):
    make_folder(tmp_path / "set", ["x_0.png"])
    (tmp_path / "set" / "sub").mkdir()
    make_folder(tmp_path, ["x_0.png"])
    path = str(tmp_path / "x_0.png") if path == "/x_0.png" else path
    (tmp_path / "set" / "manifest.csv").write_text(f"prompt_id,sample_idx,path\nx,0,{path}\n")
    if inside:
        assert ImageSet.from_folder(tmp_path / "set").outside_paths is None
    else:
        with pytest.raises(InputError, match=r"row 2: path .* lies outside the image folder"):
            ImageSet.from_folder(tmp_path / "set")
        allowed = ImageSet.from_folder(tmp_path / "set", allow_outside_paths=True)
        assert allowed.outside_paths == 1 and allowed.describe()["outside_paths"] == 1


def test_manifest_sha256_column_is_verified(tmp_path):
    from cxrgen_bench.data.images import sha256_file

    make_folder(tmp_path, ["x_0.png", "x_1.png"])
    digests = [sha256_file(tmp_path / f"x_{k}.png") for k in range(2)]
    rows = f"x,0,x_0.png,{digests[0].upper()}\nx,1,x_1.png,\n"  # either case; a blank cell is not checked
    (tmp_path / "manifest.csv").write_text("prompt_id,sample_idx,path,sha256\n" + rows)
    assert [r.sha256 for r in ImageSet.from_folder(tmp_path).records] == digests
    (tmp_path / "manifest.csv").write_text(f"prompt_id,sample_idx,path,sha256\nx,0,x_0.png,{digests[1]}\n")
    with pytest.raises(InputError, match=rf"row 2: .*x_0.png has sha256 {digests[0]}, but the manifest says {digests[1]}"):
        ImageSet.from_folder(tmp_path)


def test_restrict_keeps_the_prompts_asked_for(tmp_path):
    s = ImageSet.from_folder(make_folder(tmp_path, ["a_0.png", "a_1.png", "b_0.png"]))
    only_b = s.restrict(["b", "zzz"])
    assert only_b.prompt_ids == ["b"] and only_b.full_content_sha256 == s.content_sha256
    assert only_b.content_sha256 != s.content_sha256 and only_b.restrict(["b"]).full_content_sha256 == s.content_sha256
    with pytest.raises(InputError, match="none of its images"):
        s.restrict(["zzz"])


# --- CSVs as people save them -----------------------------------------------------------------------

def test_byte_order_mark_and_spaced_header_are_read(tmp_path):
    p = tmp_path / "p.csv"
    p.write_bytes(b"\xef\xbb\xbfprompt_id , text, Edema\r\n1,Small effusion,1\r\n")
    ps = PromptSet.from_csv(p)
    assert list(ps.prompts) == ["1"] and ps.label_names == ("Edema",) and ps.prompts["1"].labels == {"Edema": 1.0}
    make_folder(tmp_path / "set", ["x_0.png"])
    (tmp_path / "set" / "manifest.csv").write_bytes(b"\xef\xbb\xbfprompt_id,sample_idx,path\nx,0,x_0.png\n")
    assert ImageSet.from_folder(tmp_path / "set").prompt_ids == ["x"]


@pytest.mark.parametrize("pid", [" p1", "p1 ", "\tp1"])
def test_ids_with_spaces_around_them_are_named(tmp_path, pid):
    p = tmp_path / "p.csv"
    p.write_text(f'prompt_id,text\np0,a\n"{pid}",b\n')
    with pytest.raises(InputError, match=rf"p.csv, row 3: prompt_id {re.escape(repr(pid))} has spaces around it"):
        PromptSet.from_csv(p)
    make_folder(tmp_path / "set", ["x_0.png"])
    (tmp_path / "set" / "manifest.csv").write_text(f'prompt_id,sample_idx,path\n"{pid}",0,x_0.png\n')
    with pytest.raises(InputError, match=rf"manifest.csv, row 2: prompt_id {re.escape(repr(pid))} has spaces"):
        ImageSet.from_folder(tmp_path / "set")


def test_prompts_of_the_reference_come_from_their_own_csv(tmp_path):
    """Retrieval's candidates (the reference) are labelled by --reference-prompts; in the generated images'
    prompts CSV they would be prompts without a generated image, which is an error (issue 24)."""
    import numpy as np
    from PIL import Image

    from cxrgen_bench.errors import InputError
    from cxrgen_bench.evaluation.subjects import ImageSetSubject

    for folder, ids in (("gen", ["q0_0", "q1_0"]), ("ref", ["c0", "c1", "c2"])):
        (tmp_path / folder).mkdir()
        for i in ids:
            Image.fromarray(np.full((8, 8), 100, np.uint8)).save(tmp_path / folder / f"{i}.png")
    (tmp_path / "q.csv").write_text("prompt_id,text\n" + "".join(f"{p},Finding {p}.\n" for p in ("q0", "q1")))
    (tmp_path / "c.csv").write_text("prompt_id,text\n" + "".join(f"{p},Finding {p}.\n" for p in ("c0", "c1", "c2")))
    (tmp_path / "p.csv").write_text("prompt_id,text\n" + "".join(f"{p},Finding {p}.\n" for p in ("q0", "q1", "c0", "c1", "c2")))
    images, reference = ImageSet.from_folder(tmp_path / "gen"), ImageSet.from_folder(tmp_path / "ref")
    subject = ImageSetSubject(images, reference=reference, prompts=PromptSet.from_csv(tmp_path / "q.csv"),
                              reference_prompts=PromptSet.from_csv(tmp_path / "c.csv"))
    assert set(subject.prompts.prompts) == {"q0", "q1", "c0", "c1", "c2"} and subject.subset_record is None
    with pytest.raises(InputError, match=r"3 prompt\(s\) have no generated image: 'c0', 'c1', 'c2'.*--reference-prompts"):
        ImageSetSubject(images, reference=reference, prompts=PromptSet.from_csv(tmp_path / "p.csv"))
