"""`cxrgen-bench score` end to end on real radiographs (SPEC §6) and perturbed copies of them."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

import cxrgen_bench
from cxrgen_bench.cli import main
from cxrgen_bench.profiles import get_profile
from cxrgen_bench.results import read_result


def perturbed_set(jpegs, root: Path, blur: float, noise: float, samples: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for i, src in enumerate(jpegs):
        img = Image.open(src).convert("L")
        img.thumbnail((256, 256))
        img = img.resize((256, 256))
        for k in range(samples):
            arr = np.asarray(img.filter(ImageFilter.GaussianBlur(blur * (1 + k))), np.float32)
            arr = arr + rng.normal(0, noise, arr.shape)
            root.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(root / f"p{i:02d}_{k}.png")
    return root


@pytest.fixture(scope="module")
def sets(real_cxr_jpegs, tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    ref = perturbed_set(real_cxr_jpegs, root / "ref", 0.0, 0.0, 1, 0)
    mild = perturbed_set(real_cxr_jpegs, root / "mild", 0.5, 3.0, 4, 1)  # roentgen2022: samples 0..3
    strong = perturbed_set(real_cxr_jpegs, root / "strong", 3.0, 25.0, 4, 2)
    lines = ["prompt_id,text,Pneumonia,Pleural Effusion"]
    for i, src in enumerate(real_cxr_jpegs):
        sick = "bacteria" in src.name
        lines.append(f"p{i:02d},{'Right lower lobe pneumonia.' if sick else 'No acute cardiopulmonary process.'},"
                     f"{int(sick)},{'' if sick else 0}")
    prompts = root / "prompts.csv"
    prompts.write_text("\n".join(lines) + "\n")
    return {"ref": ref, "mild": mild, "strong": strong, "prompts": prompts, "root": root}


def score_args(sets, images, inception_weights, xrv_random_weights, *extra):
    return ["score", "--images", str(sets[images]), "--reference", str(sets["ref"]), "--prompts", str(sets["prompts"]),
            "--metrics", "fid[inception-v3-fid+xrv-densenet121],ms_ssim,classifier_auroc",
            "--weights", f"inception-v3-fid={inception_weights}", "--weights", f"xrv-densenet121={xrv_random_weights}",
            # random classifier weights: the real images' AUROC sits near chance, so the 0.75 filter would leave the
            # filtered average undefined (a partial run); these tests are about the run, not the filter
            "--set", "classifier_auroc.filter_threshold=0", "--allow-pickle", "--quiet", *extra]


def strip_run(result):
    return {k: v for k, v in result.items() if k != "run"}


def test_cli_writes_a_valid_complete_result(sets, inception_weights, xrv_random_weights, tmp_path):
    out = tmp_path / "r.json"
    assert main(score_args(sets, "mild", inception_weights, xrv_random_weights, "--out", str(out))) == 0
    result = read_result(out)  # validates against the schema
    assert result["status"] == "complete" and result["kind"] == "measured"
    assert result["profile"]["name"] == "roentgen2022"
    fid = result["metrics"]["fid[inception-v3-fid]"]
    assert fid["value"] > 0 and fid["n"] == {"requested": 16, "effective": 16}
    assert fid["details"]["rank_deficient"]  # 16 images, 2048 dims: flagged, not hidden
    ms = result["metrics"]["ms_ssim"]
    assert 0 < ms["value"] < 1 and ms["details"]["pairs"] == 16 * 6  # samples 0..3: six pairs per prompt
    assert ms["details"]["by_token_length"][0]["n"] == 16
    auroc = result["metrics"]["classifier_auroc"]
    assert set(auroc["details"]["per_class"]) == {"Pneumonia", "Pleural Effusion"}
    assert auroc["details"]["per_class"]["Pleural Effusion"] is None  # only negatives: undefined
    assert result["weights"]["inception-v3-fid"]["matches_published"] == "default_1.pt"
    assert result["subject"]["kind"] == "image-set" and result["subject"]["n_images"] == 64


def test_metrics_move_the_right_way(sets, inception_weights, xrv_random_weights):
    common = dict(reference=sets["ref"], metrics="fid[inception-v3-fid],ms_ssim",
                  weights={"inception-v3-fid": str(inception_weights)})
    same = cxrgen_bench.score(images=sets["ref"], metrics="fid[inception-v3-fid]", reference=sets["ref"],
                              weights=common["weights"])
    mild = cxrgen_bench.score(images=sets["mild"], **common)
    strong = cxrgen_bench.score(images=sets["strong"], **common)
    fid = lambda r: r["metrics"]["fid[inception-v3-fid]"]["value"]  # noqa: E731
    assert fid(same) < 1e-6 < fid(mild) < fid(strong)
    # stronger, sample-dependent perturbations make the two samples of a prompt less alike
    assert strong["metrics"]["ms_ssim"]["value"] < mild["metrics"]["ms_ssim"]["value"]


def test_json_output_is_the_python_return_value(sets, inception_weights, xrv_random_weights, capsys):
    assert main(score_args(sets, "mild", inception_weights, xrv_random_weights, "--json")) == 0
    printed = json.loads(capsys.readouterr().out)
    returned = cxrgen_bench.score(images=sets["mild"], reference=sets["ref"], prompts=sets["prompts"],
                                  metrics="fid[inception-v3-fid+xrv-densenet121],ms_ssim,classifier_auroc",
                                  weights={"inception-v3-fid": str(inception_weights),
                                           "xrv-densenet121": str(xrv_random_weights)}, allow_pickle=True,
                                  profile=get_profile("roentgen2022").with_overrides(["classifier_auroc.filter_threshold=0"]))
    assert strip_run(printed) == strip_run(json.loads(json.dumps(returned)))


def test_whole_run_is_deterministic(sets, inception_weights, xrv_random_weights, tmp_path):
    files = []
    for n in range(2):
        out = tmp_path / f"r{n}.json"
        args = score_args(sets, "mild", inception_weights, xrv_random_weights, "--out", str(out),
                          "--cache-dir", str(tmp_path / f"cache{n}"))
        assert main(args) == 0
        files.append([line for line in out.read_text().splitlines()
                      if '"created_at"' not in line and '"duration_s"' not in line])
    assert files[0] == files[1]


def test_warm_cache_does_not_recompute_features(sets, inception_weights, monkeypatch, tmp_path):
    from cxrgen_bench.models.image.base import Backbone

    calls = []
    original = Backbone.features
    monkeypatch.setattr(Backbone, "features", lambda self, inputs, layer: calls.append(len(inputs))
                        or original(self, inputs, layer))
    kwargs = dict(images=sets["mild"], reference=sets["ref"], metrics="fid[inception-v3-fid]",
                  weights={"inception-v3-fid": str(inception_weights)}, cache_dir=tmp_path / "c")
    first = cxrgen_bench.score(**kwargs)
    assert sum(calls) == 32
    calls.clear()
    second = cxrgen_bench.score(**kwargs)
    assert calls == []
    assert strip_run(first) == strip_run(second)


def test_missing_weights_give_a_partial_result_not_a_complete_one(sets, inception_weights, tmp_path, capsys):
    out = tmp_path / "partial.json"
    rc = main(["score", "--images", str(sets["mild"]), "--reference", str(sets["ref"]), "--metrics",
               "fid[inception-v3-fid+clip-vit-b-32]", "--weights", f"inception-v3-fid={inception_weights}",
               "--out", str(out), "--quiet"])
    assert rc == 1
    result = read_result(out)
    assert result["status"] == "partial"
    assert "ViT-B-32.pt" in result["metrics"]["fid[clip-vit-b-32]"]["error"]
    assert result["metrics"]["fid[clip-vit-b-32]"]["value"] is None
    assert result["metrics"]["fid[inception-v3-fid]"]["value"] > 0
    assert "ERROR" in capsys.readouterr().out


def test_strict_mode_writes_nothing(sets, tmp_path, capsys):
    out = tmp_path / "strict.json"
    rc = main(["score", "--images", str(sets["mild"]), "--reference", str(sets["ref"]), "--metrics",
               "fid[clip-vit-b-32]", "--out", str(out), "--strict", "--quiet"])
    assert rc == 2 and not out.exists()
    assert "no weights found for backbone 'clip-vit-b-32'" in capsys.readouterr().err


def test_corrupt_image_is_named_and_nothing_is_written(sets, inception_weights, tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(sets["mild"], bad)
    (bad / "p03_1.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "bad.json"
    rc = main(["score", "--images", str(bad), "--reference", str(sets["ref"]), "--metrics", "fid[inception-v3-fid]",
               "--weights", f"inception-v3-fid={inception_weights}", "--out", str(out), "--strict", "--quiet"])
    assert rc == 2 and not out.exists()
    assert "p03_1.png" in capsys.readouterr().err


def test_single_sample_prompts_cannot_give_ms_ssim(sets):
    result = cxrgen_bench.score(images=sets["ref"], metrics="ms_ssim")
    assert result["status"] == "partial"
    error = result["metrics"]["ms_ssim"]["error"]
    assert "every prompt in" in error and "has one image (16 prompts)" in error and "{prompt_id}_{k}" in error


def test_unknown_metric_and_bad_weights_flag(sets, capsys):
    assert main(["score", "--images", str(sets["mild"]), "--metrics", "fidd"]) == 2
    assert "unknown metric 'fidd'" in capsys.readouterr().err
    assert main(["score", "--images", str(sets["mild"]), "--weights", "oops"]) == 2
    assert "BACKBONE=PATH" in capsys.readouterr().err


def test_prompt_ids_missing_from_prompts_file(sets, inception_weights, xrv_random_weights, tmp_path):
    """Refused before any metric (issue 18: images whose prompt is unknown were scored); --subset scores
    the one prompt both hold and records the 15 it left out."""
    from cxrgen_bench.errors import InputError

    prompts = tmp_path / "few.csv"
    prompts.write_text("prompt_id,text,Pneumonia\np00,x,1\n")
    kwargs = dict(images=sets["mild"], prompts=prompts, metrics="classifier_auroc",
                  weights={"xrv-densenet121": str(xrv_random_weights)}, allow_pickle=True)
    with pytest.raises(InputError, match=r"15 prompt id\(s\) of images are not in the prompts CSV: 'p01'"):
        cxrgen_bench.score(**kwargs)
    result = cxrgen_bench.score(subset=True, **kwargs)
    assert result["subject"]["subset"]["dropped"]["image_prompt_ids_not_in_prompts"][:2] == ["p01", "p02"]
    assert result["subject"]["n_prompts"] == result["metrics"]["classifier_auroc"]["n"]["requested"] == 1


def test_ls_lists_every_kind(capsys):
    assert main(["ls", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert "fid" in listing["metrics"] and "roentgen2022" in listing["profiles"]


def test_bootstrap_cis_and_paired_compare_through_score(sets, inception_weights, tmp_path, capsys):
    kwargs = dict(reference=sets["ref"], metrics="fid[inception-v3-fid],ms_ssim", bootstrap=200, bootstrap_seed=3,
                  weights={"inception-v3-fid": str(inception_weights)}, cache_dir=tmp_path / "c")
    mild = cxrgen_bench.score(images=sets["mild"], out=tmp_path / "mild.json", **kwargs)
    strong = cxrgen_bench.score(images=sets["strong"], out=tmp_path / "strong.json", **kwargs)
    for key in ("fid[inception-v3-fid]", "ms_ssim"):
        entry = mild["metrics"][key]
        assert entry["ci95"][0] <= entry["value"] <= entry["ci95"][1]
        assert len(entry["bootstrap"]["replicates"]) == 200 and entry["bootstrap"]["seed"] == 3
    assert mild["metrics"]["ms_ssim"]["bootstrap"]["units_sha256"] == strong["metrics"]["ms_ssim"]["bootstrap"]["units_sha256"]
    assert main(["compare", str(tmp_path / "mild.json"), str(tmp_path / "strong.json"), "--json"]) == 0
    rows = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["ms_ssim"]["paired"] and rows["ms_ssim"]["difference"] < 0 and rows["ms_ssim"]["p_value"] < 0.05
    assert rows["fid[inception-v3-fid]"]["paired"] and rows["fid[inception-v3-fid]"]["difference"] > 0
