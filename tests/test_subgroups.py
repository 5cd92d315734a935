"""Whom a generator serves worse (issue 26): per-group metrics with their gap (`score --by`), demographic
adherence (RoentGen-v2's quality check), the attribute predictors' official formats, and MIMIC-IV
demographics joined to MIMIC-CXR."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import cxrgen_bench
from cxrgen_bench.cli import main
from cxrgen_bench.data.manifest import PromptSet
from cxrgen_bench.data.subgroups import DEFAULTS, groups_of, race_group
from cxrgen_bench.errors import InputError, WeightsError
from cxrgen_bench.functional import group_gap
from cxrgen_bench.functional.subgroups import age_band, gap_of, gap_replicates
from cxrgen_bench.results import read_result

from .mimic_fixture import make_mimic, make_mimic_iv


# --- pure numerics ------------------------------------------------------------------------------------

def test_group_gap_against_its_definition():
    rng = np.random.default_rng(0)
    values = rng.random(60)
    groups = rng.choice(["a", "b", "c", "d"], size=60, p=[0.4, 0.3, 0.25, 0.05])
    out = group_gap(values, groups, higher_is_better=True, min_size=5)
    for g in set(groups):
        assert out["per_group"][g] == pytest.approx(values[groups == g].mean(), abs=1e-12)
    sized = {g: values[groups == g].mean() for g in set(groups) if (groups == g).sum() >= 5}
    assert out["gap"] == pytest.approx(max(sized.values()) - min(sized.values()), abs=1e-12)
    assert out["worst"] == min(sized, key=sized.get)
    assert "d" in out["per_group"] and (groups == "d").sum() < 5 and out["worst"] != "d" or "d" in sized
    lower = group_gap(values, groups, higher_is_better=False, min_size=5)
    assert lower["gap"] == out["gap"] and lower["worst"] == max(sized, key=sized.get)


def test_group_gap_invariances_and_edges():
    values, groups = [0.2, 0.4, 0.9, 0.7], ["x", "x", "y", "y"]
    out = group_gap(values, groups)
    order = [3, 1, 0, 2]
    shuffled = group_gap([values[i] for i in order], [groups[i] for i in order])
    assert out == shuffled and out["gap"] == pytest.approx(0.5) and out["worst"] == "x"
    assert group_gap([1.0, 2.0], ["only", "only"])["gap"] is None  # one group: no gap, no worst
    assert group_gap([1.0, 2.0, 3.0], ["a", "b", "b"], min_size=2)["gap"] is None  # a is too small
    with pytest.raises(Exception, match="values for"):
        group_gap([1.0, 2.0], ["a"])
    assert gap_of({"a": 1.0, "b": None, "c": 3.0}, higher_is_better=False) == (2.0, "c")
    reps = gap_replicates({"a": np.array([1.0, np.nan, 2.0]), "b": np.array([3.0, 1.0, np.nan])})
    assert reps[0] == 2.0 and np.isnan(reps[1]) and np.isnan(reps[2])


def test_age_bands_and_race_groups():
    assert [age_band(a, (40, 60, 80)) for a in (18, 40, 59.5, 64, 80, 95, None)] == [
        "<40", "40–59", "40–59", "60–79", "80+", "80+", "unknown"]
    mapping = DEFAULTS["race_groups"]
    assert race_group("WHITE - OTHER EUROPEAN", mapping) == "White"
    assert race_group("BLACK/AFRICAN AMERICAN", mapping) == "Black"
    assert race_group("HISPANIC/LATINO - PUERTO RICAN", mapping) == "Hispanic/Latino"
    assert race_group("ASIAN - CHINESE", mapping) == "Asian"
    assert race_group("UNABLE TO OBTAIN", mapping) == race_group("", mapping) == "unknown"


def test_groups_are_read_from_the_prompts_columns(tmp_path):
    (tmp_path / "p.csv").write_text(
        "prompt_id,text,Edema,Pleural Effusion,No Finding,sex,age,race,site\n"
        "a,x,1,1,,F,34,WHITE,s1\nb,y,,,1,male,71,ASIAN,s2\nc,z,0,,,, ,UNKNOWN,s1\n")
    prompts = PromptSet.from_csv(tmp_path / "p.csv")
    assert prompts.prompts["a"].attributes["site"] == "s1" and "sex" in prompts.attribute_names
    cfg = DEFAULTS
    assert groups_of(prompts, "sex", cfg) == {"a": ["female"], "b": ["male"], "c": ["unknown"]}
    assert groups_of(prompts, "age_band", cfg) == {"a": ["<40"], "b": ["60–79"], "c": ["unknown"]}
    assert groups_of(prompts, "race", cfg) == {"a": ["White"], "b": ["Asian"], "c": ["unknown"]}
    assert groups_of(prompts, "finding", cfg)["a"] == ["Edema", "Pleural Effusion"]  # two findings, two groups
    assert groups_of(prompts, "site", cfg) == {"a": ["s1"], "b": ["s2"], "c": ["s1"]}
    with pytest.raises(InputError, match=r"no scanner column; its columns are prompt_id, text, .*site"):
        groups_of(prompts, "scanner", cfg)


# --- on phantoms: the known answer -------------------------------------------------------------------------

STAND_INS = ("phantom-faithful", "phantom-ignores-demographics", "phantom-underserves-female")


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    """96 phantoms with a sex and an age, their real images, three stand-ins (one image per prompt), and a pool
    of 300 other real phantoms: the reference, its groups from --reference-prompts (each group's floor is two
    disjoint sets of its real images)."""
    from cxrgen_bench.calibration.dataset import PhantomDataset
    from cxrgen_bench.data.datasets.base import PromptTable
    from cxrgen_bench.generation import generate

    out = tmp_path_factory.mktemp("demographics")
    table = PhantomDataset(out / "dataset").prompts(limit=96 + 300, seed=5, demographics=True)
    csv = PromptTable(table.rows[:96], table.description, table.extra_columns).write(out / "dataset" / "p.csv")
    pool = PromptTable(table.rows[96:], table.description, table.extra_columns).write(out / "dataset" / "pool.csv")
    for prompts, folder in ((csv, "reference"), (pool, "pool")):
        generate(generator="real", model=str(out / "dataset"), prompts=prompts, out=out / folder,
                 profile="calibration-phantom", samples_per_prompt=1, progress=False)
    for name in STAND_INS:
        generate(generator=name, prompts=csv, out=out / name, profile="calibration-phantom", samples_per_prompt=1,
                 progress=False)
    results = {}
    for name in ("reference", *STAND_INS):
        results[name] = cxrgen_bench.score(
            images=out / name, reference=out / "pool", prompts=csv, reference_prompts=pool,
            profile="calibration-phantom", by="sex,age_band",
            metrics=["adherence", "fid[phantom-evaluator]", "ms_ssim"] if name != "reference" else ["adherence"],
            bootstrap=200, cache_dir=out / "cache", out=out / "results" / f"{name}.json")
    return {"out": out, "csv": csv, "results": results}


def test_adherence_singles_out_the_generator_that_ignores_demographics(phantoms):
    r = phantoms["results"]
    real, faithful, ignores = (r[n]["metrics"] for n in ("reference", "phantom-faithful", "phantom-ignores-demographics"))
    assert real["adherence[sex]"]["value"] >= 0.95 and real["adherence[age]"]["value"] >= 0.9  # the ceiling
    assert faithful["adherence[sex]"]["value"] >= 0.95 and faithful["adherence[age]"]["value"] >= 0.9
    assert ignores["adherence[sex]"]["value"] < 0.75 and ignores["adherence[age]"]["value"] < 0.6
    assert ignores["adherence[sex]"]["ci95"][1] < faithful["adherence[sex]"]["ci95"][0]
    assert ignores["adherence[age]"]["details"]["mean_absolute_error"] > 10
    failures = (phantoms["out"] / "results" / "phantom-ignores-demographics.adherence-failures.csv").read_text()
    assert failures.startswith("image,prompt_id,attribute,stated,predicted") and len(failures.splitlines()) > 10


def test_the_gap_singles_out_the_generator_that_serves_women_worse(phantoms):
    r = phantoms["results"]
    view = r["phantom-underserves-female"]["metrics"]["fid[phantom-evaluator]"]["subgroups"]["sex"]
    fair = r["phantom-faithful"]["metrics"]["fid[phantom-evaluator]"]["subgroups"]["sex"]
    assert view["worst"] == "female" and view["gap"]["ci"][0] > 0
    assert view["gap"]["value"] > 3 * fair["gap"]["value"] and fair["gap"]["ci"][0] == 0.0
    assert view["matched_n"] == min(g["n"] for g in view["groups"].values())  # FD at one sample size
    # the gap reads each group's excess over its own floor (two disjoint sets of its real images)
    assert view["gap"]["basis"] == fair["gap"]["basis"] == "excess over floor" and "unpaired" in view["floors"]
    assert all(g["floor"] > 0 and g["floor_n"] >= 4 and g["excess_ci"][0] <= g["excess"] for g in view["groups"].values())
    assert view["groups"]["female"]["excess_ci"][0] > 0 and fair["groups"]["female"]["excess_ci"][0] <= 0
    assert set(view["groups"]) == {"female", "male"}
    for group in view["groups"].values():  # the stable format
        assert set(group) >= {"value", "n", "ci"} and group["ci"][0] <= group["value"] <= group["ci"][1]
    assert set(view) >= {"groups", "gap", "worst"} and set(view["gap"]) >= {"value", "ci"}
    # per-item metrics keep every prompt of each group
    ms = r["phantom-underserves-female"]["metrics"]["ms_ssim"]
    assert "subgroups" in ms or ms.get("error")


def test_groups_below_the_minimum_are_shown_not_ranked(phantoms):
    ages = phantoms["results"]["phantom-faithful"]["metrics"]["fid[phantom-evaluator]"]["subgroups"]["age_band"]
    small = [g for g, row in ages["groups"].items() if row.get("too_small")]
    assert all(ages["groups"][g]["value"] is None and ages["groups"][g]["n"] < ages["min_size"] for g in small)
    assert ages["worst"] not in small


def test_board_gate_and_compare_read_the_gaps(phantoms, tmp_path, capsys):
    from cxrgen_bench.compare import compare
    from cxrgen_bench.gate import load_rules, run_gate
    from cxrgen_bench.leaderboard.render import build
    from cxrgen_bench.leaderboard.store import Store

    results = phantoms["results"]
    store = Store(tmp_path / "board")
    for name in STAND_INS:
        store.add(results[name], name=name)
    board = build(store.load(), tmp_path / "board")
    md = board["README.md"].read_text()
    assert "## Subgroups — profile calibration-phantom" in md and "female" in md and "phantom-underserves-female" in md
    assert any("subgroups-fid-phantom-evaluator" in str(p) for p in board)
    assert "subgroups,calibration-phantom" in board["leaderboard.csv"].read_text()
    (tmp_path / "rules.yaml").write_text('metrics:\n  "fid[phantom-evaluator]@sex": {absolute: 1.0}\n')
    report = run_gate(results["phantom-faithful"], results["phantom-underserves-female"], load_rules(tmp_path / "rules.yaml"))
    row = next(r for r in report.rows if r.key == "fid[phantom-evaluator]@sex")
    assert row.status == "regression" and report.exit_code == 1
    rows = {c.key: c for c in compare(results["phantom-faithful"], results["phantom-underserves-female"])}
    gap = rows["fid[phantom-evaluator]@sex"]
    assert gap.direction == "lower" and gap.difference > 0


def test_by_through_the_command_line_and_its_bad_input(phantoms, tmp_path, capsys):
    out = phantoms["out"]
    args = ["score", "--images", str(out / "phantom-faithful"), "--reference", str(out / "reference"), "--prompts",
            str(phantoms["csv"]), "--profile", "calibration-phantom", "--metrics", "fid[phantom-evaluator]",
            "--cache-dir", str(out / "cache"), "--quiet"]
    assert main(args + ["--by", "sex"]) == 0
    said = capsys.readouterr().out
    assert "by sex: female" in said and "gap" in said and "matched n=" in said
    assert main(args + ["--by", "race"]) == 2
    assert "no race / ethnicity column; its columns are" in capsys.readouterr().err
    assert main(args + ["--by", "view"]) == 0  # one group (PA): no gap, said
    assert "no gap" in capsys.readouterr().out
    assert main(args + ["--by", "sex", "--set", "subgroups.min_size=500"]) == 0
    assert "fewer than two groups of at least 500 prompts" in capsys.readouterr().out
    assert main(["score", "--images", str(out / "phantom-faithful"), "--by", "sex", "--metrics", "ms_ssim"]) == 2
    assert "--prompts" in capsys.readouterr().err


# --- MIMIC-IV joined to MIMIC-CXR ------------------------------------------------------------------------

def test_mimic_iv_demographics_are_joined_by_subject(tmp_path):
    from cxrgen_bench.data.datasets.mimic import MimicCXR

    root, iv = make_mimic(tmp_path / "mimic"), make_mimic_iv(tmp_path / "mimic-iv")
    table = MimicCXR(root, strict=False).prompts(split="p10-p19", views=None, min_chars=0, max_tokens=None,
                                                 demographics=iv, check_images=False)
    rows = {r["prompt_id"]: r for r in table.rows}
    assert rows["d01"]["sex"] == "female" and rows["d01"]["age"] == 52 and rows["d01"]["race"] == "White"
    assert rows["d03"]["age"] == 54  # anchor_age 52 + (2182 − 2180)
    assert rows["d06"]["race"] == "unknown"  # WHITE and HISPANIC/LATINO admissions disagree: never guessed
    assert rows["d08"]["sex"] == "unknown"  # no patient row
    unknown = table.description["demographics"]["unknown"]
    assert unknown["race unknown (admissions disagree)"] >= 1 and unknown["sex unknown (no MIMIC-IV patient row, or no gender)"] >= 1
    prompts = MimicCXR(root, strict=False).prompts(split="p10-p19", views=None, min_chars=0, max_tokens=None,
                                                   demographics=iv, demographic_prompts=True, check_images=False)
    text = {r["prompt_id"]: r["text"] for r in prompts.rows}
    assert text["d01"] == "52 year old White female. Small left pleural effusion."
    assert text["d08"].startswith("No pneumothorax") or "year old" in text["d08"]  # unknown parts left out
    with pytest.raises(InputError, match="patients.csv"):
        MimicCXR(root, strict=False).prompts(split="train", demographics=tmp_path)


def test_demographic_flags_on_the_command_line(tmp_path, capsys):
    root, iv = make_mimic(tmp_path / "mimic"), make_mimic_iv(tmp_path / "mimic-iv")
    out = tmp_path / "p.csv"
    assert main(["data", "prompts", "--dataset", "mimic-cxr", "--root", str(root), "--split", "p10-p19", "--views", "ALL",
                 "--min-chars", "0", "--max-tokens", "0", "--no-image-check", "--demographics", str(iv),
                 "--demographic-prompts", "--out", str(out)]) == 0
    prompts = PromptSet.from_csv(out)
    assert {"sex", "age", "race"} <= set(prompts.attribute_names)
    assert main(["data", "prompts", "--dataset", "openi", "--demographics", str(iv)]) == 2
    assert "join MIMIC-IV to mimic-cxr" in capsys.readouterr().err


# --- attribute predictors in their official formats (random weights) ----------------------------------------

def test_race_and_sex_predictors_load_their_published_layouts(tmp_path):
    import torchvision

    from cxrgen_bench.models.image import build_backbone
    from cxrgen_bench.profiles import get_profile

    profile = get_profile("roentgen2022")
    race = torchvision.models.resnet34(weights=None)
    race.fc = torch.nn.Sequential(torch.nn.Linear(512, 3), torch.nn.LogSoftmax(dim=1))
    torch.save(torch.nn.DataParallel(race).state_dict(), tmp_path / "race.pt")  # module.* keys, as published
    sex = torchvision.models.resnet34(weights=None)
    sex.fc = torch.nn.Linear(512, 2)
    torch.save({"epoch": 3, "state_dict": {f"model.{k}": v for k, v in sex.state_dict().items()},
                "hyper_parameters": {"num_classes": 2}}, tmp_path / "sex.ckpt")  # a Lightning checkpoint
    image = np.random.default_rng(0).random((300, 260)).astype(np.float32)
    for name, path, reference in (("xrv-race", "race.pt", race), ("mira-sex", "sex.ckpt", sex)):
        net = build_backbone(name, profile.backbone(name), weights=str(tmp_path / path))
        x = torch.from_numpy(net.preprocess(image))[None]
        out = net.features([net.preprocess(image)], next(iter(net.layers)))
        with torch.no_grad():
            ref = reference.eval()(x)
        expected = ref.exp() if name == "xrv-race" else torch.softmax(ref, 1)[:, 1:2]
        assert out.shape == (1, net.layers[next(iter(net.layers))])
        np.testing.assert_allclose(out, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_the_race_models_input_is_torchxrayvisions():
    """The race and age models' preprocessing equals torchxrayvision's own steps after RoentGen-v2's resize."""
    import torchvision
    import torchxrayvision as xrv

    from cxrgen_bench.models.image.attributes import xrv_input

    image = np.random.default_rng(1).random((280, 240)).astype(np.float32)
    x = torch.nn.functional.interpolate(torch.from_numpy(image)[None, None], size=(224, 224), mode="area")
    x = (x - x.min()) / (x.max() - x.min()) * 2048 - 1024  # monai ScaleIntensity(minv=-1024, maxv=1024)
    x = x.repeat(1, 3, 1, 1)
    x = xrv.utils.fix_resolution(x, 320, object())
    x = torchvision.transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])((x + 1024) / 2048)
    np.testing.assert_allclose(xrv_input(image), x[0].numpy(), rtol=1e-5, atol=1e-5)


def monai_rescaled(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """monai's `rescale_array(x, minv=lo, maxv=hi)` (monai/transforms/utils.py), as RoentGen-v2's
    ScaleIntensityd calls it, written out: a constant array comes back multiplied by ``lo``."""
    if x.min() == x.max():
        return x * lo
    return (x - x.min()) / (x.max() - x.min()) * (hi - lo) + lo


@pytest.mark.parametrize("grey", [0.0, 0.5, 1.0, 0.3])
def test_a_constant_image_reaches_the_predictors_as_roentgen_v2_scales_it(grey):
    """A blank generated image (a failed or filtered sample is often black) is scaled by monai's rule for a
    constant array, not set to the bottom of the range: black reaches the race and age models as mid-grey."""
    import torchvision
    import torchxrayvision as xrv

    from cxrgen_bench.models.image import build_backbone
    from cxrgen_bench.models.image.attributes import xrv_input

    image = np.full((300, 260), grey, np.float32)
    x = torch.nn.functional.interpolate(torch.from_numpy(image)[None, None], size=(224, 224), mode="area")
    race_in = monai_rescaled(x, -1024.0, 1024.0).repeat(1, 3, 1, 1)
    race_in = xrv.utils.fix_resolution(race_in, 320, object())
    race_in = torchvision.transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])((race_in + 1024) / 2048)
    np.testing.assert_allclose(xrv_input(image), race_in[0].numpy(), rtol=1e-5, atol=1e-5)
    sex_in = build_backbone("mira-sex", {}, state_dict={}).preprocess(image)  # preprocessing needs no weights
    np.testing.assert_array_equal(sex_in, monai_rescaled(x, 0.0, 255.0).repeat(1, 3, 1, 1)[0].numpy())
    if grey == 0.0:  # black → 0 on the −1024…1024 scale → 0.5 after (x + 1024) / 2048
        np.testing.assert_allclose(xrv_input(image)[0], (0.5 - 0.485) / 0.229, rtol=1e-6)


def test_race_adherence_gives_roentgen_v2s_count_beside_ours(tmp_path):
    """Ours leaves out prompts whose race the predictor cannot check; RoentGen-v2 checks only CSV values that are a
    class once capitalised and passes every other image. Both counts, from the same predictions."""
    import torchvision
    from safetensors.torch import save_file

    from cxrgen_bench.data.images import read_image
    from cxrgen_bench.models.image import build_backbone
    from cxrgen_bench.profiles import get_profile

    torch.manual_seed(1)
    race = torchvision.models.resnet34(weights=None)
    race.fc = torch.nn.Sequential(torch.nn.Linear(512, 3), torch.nn.LogSoftmax(dim=1))
    save_file({k: v.contiguous() for k, v in race.state_dict().items()}, str(tmp_path / "race.safetensors"))
    written = ["WHITE", "BLACK/AFRICAN AMERICAN", "ASIAN", "HISPANIC/LATINO - PUERTO RICAN", "", "White", "BLACK",
               "WHITE - OTHER EUROPEAN", "ASIAN - CHINESE", "OTHER"]
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(2)
    for i in range(len(written)):
        pixels = np.zeros((64, 64), np.uint8) if i == 3 else rng.integers(0, 256, (64, 64)).astype(np.uint8)
        Image.fromarray(pixels).save(images / f"p{i}_0.png")
    csv = tmp_path / "prompts.csv"
    csv.write_text("prompt_id,text,race\n" + "".join(f'p{i},"a chest x-ray",{r}\n' for i, r in enumerate(written)))
    result = cxrgen_bench.score(images=images, prompts=csv, metrics="adherence[race]", profile="roentgen2022",
                                weights={"xrv-race": str(tmp_path / "race.safetensors")}, progress=False)
    entry = result["metrics"]["adherence[race]"]

    net = build_backbone("xrv-race", get_profile("roentgen2022").backbone("xrv-race"),
                         weights=str(tmp_path / "race.safetensors"))
    scores = net.features([net.preprocess(read_image(images / f"p{i}_0.png").pixels) for i in range(len(written))],
                          "race")
    predicted = [net.classes[j] for j in scores.argmax(1)]
    ours = {0: "White", 1: "Black", 2: "Asian", 5: "White", 6: "Black", 7: "White", 8: "Asian"}  # grouped spellings
    theirs = {0: "White", 2: "Asian", 5: "White", 6: "Black"}  # exact values once capitalised
    assert entry["value"] == pytest.approx(np.mean([predicted[i] == g for i, g in ours.items()]))
    assert entry["details"]["images_checked"] == len(ours) and entry["details"]["images_not_checked"] == 3
    peer = entry["details"]["roentgen_v2"]
    passed = len(written) - len(theirs) + sum(predicted[i] == g for i, g in theirs.items())
    assert (peer["images"], peer["images_checked"], peer["passed"]) == (len(written), len(theirs), passed)
    assert peer["value"] == pytest.approx(passed / len(written)) and peer["value"] != entry["value"]


@pytest.mark.slow
def test_age_model_torchscript_is_read_only_when_trusted(tmp_path):
    import timm

    from cxrgen_bench.models.image import build_backbone
    from cxrgen_bench.profiles import get_profile

    model = timm.create_model("legacy_senet154", pretrained=False, num_classes=1).eval()
    with torch.no_grad():
        torch.jit.trace(model, torch.zeros(1, 3, 64, 64)).save(str(tmp_path / "age.pt"))
    cfg = get_profile("roentgen2022").backbone("riken-age")
    net = build_backbone("riken-age", cfg, weights=str(tmp_path / "age.pt"))
    with pytest.raises(WeightsError, match="TorchScript archive"):
        net.load()
    trusted = build_backbone("riken-age", cfg, weights=str(tmp_path / "age.pt"), allow_pickle=True)
    x = np.random.default_rng(2).random((128, 128)).astype(np.float32)
    out = trusted.features([trusted.preprocess(x)], "age")
    with torch.no_grad():
        expected = model(torch.from_numpy(trusted.preprocess(x))[None])
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-4, atol=1e-4)


def test_missing_predictor_names_its_file(phantoms, capsys):
    out = phantoms["out"]
    result = cxrgen_bench.score(images=out / "phantom-faithful", prompts=phantoms["csv"], metrics="adherence[sex]",
                                profile="roentgen2022")
    entry = result["metrics"]["adherence[sex]"]
    assert result["status"] == "partial" and "mira-sex" in entry["error"]
    assert "mira-sex-resnet34" in json.dumps(result["run"]["unavailable_models"])


def test_results_of_a_by_run_validate_and_read_back(phantoms):
    stored = read_result(phantoms["out"] / "results" / "phantom-faithful.json")
    assert stored["run"]["settings"]["by"] == ["sex", "age_band"]
    assert stored["metrics"]["adherence[sex]"]["subgroups"]["sex"]["groups"]["female"]["value"] is not None
    assert Path(phantoms["out"] / "results" / "phantom-faithful.json").stat().st_size < 2_000_000
