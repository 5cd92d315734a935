"""A new user's first hour (issue 24): scoring their own folders of real radiographs with no weights and no
network, following the README as written; the messages and flags that path meets."""
from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cxrgen_bench.cli import build_parser, main
from cxrgen_bench.errors import InputError
from cxrgen_bench.profiles import get_profile

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_first_hour() -> list[str]:
    """The command lines of README's first-hour recipe (between its markers), as written."""
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- first-hour:start -->", 1)[1].split("<!-- first-hour:end -->", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip().startswith("cxrgen-bench ")]


@pytest.fixture
def folders(real_cxr_jpegs, tmp_path, monkeypatch):
    """gen/ (8 real pneumonia radiographs) and real/ (8 normal ones) under the working directory; any
    network use fails the test."""
    (tmp_path / "gen").mkdir()
    (tmp_path / "real").mkdir()
    for f in real_cxr_jpegs:
        shutil.copy(f, tmp_path / ("gen" if "bacteria" in f.name else "real") / f.name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CXRGEN_OFFLINE", raising=False)  # the README's --offline must do it on its own

    def no_network(*args, **kwargs):
        raise AssertionError(f"network attempted: {args[:1]}")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return tmp_path


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_readme_recipe_runs_as_written_offline_with_no_weights(folders, capsys):
    lines = readme_first_hour()
    assert len(lines) == 3 and all("--offline" in ln for ln in lines[1:])
    code, out, err = run(shlex.split(lines[0])[1:], capsys)
    assert code == 0 and "Traceback" not in out + err
    assert re.search(r"fid\[inception-v3-fid\]\s+ready", out) and re.search(r"xrv-densenet121\s+MISSING", out)
    assert "cxrgen-bench weights convert xrv-densenet121" in out  # the way from the published file
    ready_command = out.split("score what is ready now:", 1)[1].strip()
    assert "fid[inception-v3-fid]" in ready_command and "--offline" in ready_command

    code, out, err = run(shlex.split(lines[1])[1:], capsys)
    assert code == 0 and "Traceback" not in out + err, err
    first = json.loads(Path("first.json").read_text())
    assert first["status"] == "complete" and first["run"]["settings"]["offline"] is True
    assert first["metrics"]["fid[inception-v3-fid]"]["value"] > 0
    assert first["metrics"]["fid[inception-v3-fid]"]["n"]["effective"] == 8

    code, out, err = run(shlex.split(lines[2])[1:], capsys)
    assert code == 1 and "Traceback" not in out + err  # partial: what is missing, said once
    for model in ("xrv-densenet121", "clip-vit-b-32"):
        assert err.count(f"no weights found for backbone '{model}'") == 1, err
        assert err.count("Accepted files") == 2  # one block per missing model, not per metric
        assert out.count(f"  {model}: put ") == 1  # the summary names it once
    assert "metric fid[" not in err.replace("metric fid\n", "")  # progress lines show keys, not Python lists
    partial = json.loads(Path("partial.json").read_text())
    assert partial["status"] == "partial"
    assert partial["metrics"]["fid[inception-v3-fid]"]["value"] == first["metrics"]["fid[inception-v3-fid]"]["value"]
    assert set(partial["run"]["unavailable_models"]) == {"xrv-densenet121", "clip-vit-b-32"}
    assert "one image" in partial["metrics"]["ms_ssim"]["error"] and "{prompt_id}_{k}" in partial["metrics"]["ms_ssim"]["error"]


def test_a_later_metric_does_not_look_for_the_missing_model_again(folders, capsys, monkeypatch):
    import cxrgen_bench.models.image.base as w  # where backbones resolve their weights

    calls = []
    real = w.resolve_weights
    monkeypatch.setattr(w, "resolve_weights", lambda spec, *a, **k: calls.append(spec.backbone) or real(spec, *a, **k))
    code, out, err = run(["score", "--images", "gen", "--reference", "real", "--metrics",
                          "fid[xrv-densenet121],kid[xrv-densenet121],prdc_recall[xrv-densenet121]", "--offline"], capsys)
    assert code == 1 and calls.count("xrv-densenet121") == 1
    assert err.count("not computed: xrv-densenet121 is unavailable") == 3  # a line per metric
    assert err.count("Accepted files") == 1  # the whole message once


def test_an_unreachable_host_is_tried_once_per_run(monkeypatch, tmp_path):
    import huggingface_hub.file_download

    import cxrgen_bench.models.weights as w
    from cxrgen_bench.errors import WeightsNotFound

    attempts = []

    def unreachable(url, temp_file, **kwargs):
        attempts.append(url)
        raise ConnectionError("Name or service not known")  # no response: the host, not the file

    monkeypatch.setattr(huggingface_hub.file_download, "http_get", unreachable)
    monkeypatch.setattr(w, "_UNREACHABLE", {})
    monkeypatch.setenv("CXRGEN_WEIGHTS", str(tmp_path))
    spec = w.WeightsSpec.from_profile("xrv-densenet121", get_profile("roentgen2022").backbone("xrv-densenet121"))
    for _ in range(3):
        with pytest.raises(WeightsNotFound, match="unreachable|Name or service"):
            w.resolve_weights(spec, offline=False)
    assert len(attempts) == 1


def test_ms_ssim_sizes_that_differ_name_the_setting_that_resizes(tmp_path, capsys):
    rng = np.random.default_rng(0)
    gen = tmp_path / "gen"
    gen.mkdir()
    for pid in ("p0", "p1"):
        for k, side in enumerate((200, 240, 200, 200)):
            Image.fromarray(rng.integers(0, 255, (side, side), dtype=np.uint8)).save(gen / f"{pid}_{k}.png")
    args = ["score", "--images", str(gen), "--metrics", "ms_ssim", "--profile", "roentgen2022", "--json"]
    code, out, err = run(args, capsys)
    entry = json.loads(out)["metrics"]["ms_ssim"]
    assert code == 1 and "differ in size" in entry["error"] and "--set ms_ssim.resize=512" in entry["error"]
    assert "samples 0..3" not in entry["error"]
    code, out, err = run(args + ["--set", "ms_ssim.samples_per_prompt=null", "--set", "ms_ssim.resize=192"], capsys)
    result = json.loads(out)
    assert code == 0, err
    entry = result["metrics"]["ms_ssim"]
    assert entry["n"]["effective"] == 2 and entry["details"]["pairs"] == 12
    assert entry["details"]["selection"]["resize"] == 192
    assert any("192×192" in w for w in entry["warnings"])
    assert result["profile"]["overrides"] == ["metrics.ms_ssim.samples_per_prompt=null", "metrics.ms_ssim.resize=192"]
    assert result["profile"]["sha256"] != get_profile("roentgen2022").sha256


def test_set_refuses_what_the_profile_does_not_have(capsys):
    for item, said in (("ms_ssim.min_sample=1", "has no setting 'min_sample'"), ("nothing.x=1", "neither a metric"),
                       ("ms_ssim", "expected KEY=VALUE"), ("ms_ssim=2", "expected METRIC.SETTING")):
        with pytest.raises(InputError, match=re.escape(said)):
            get_profile("roentgen2022").with_overrides([item])
    profile = get_profile("roentgen2022").with_overrides(["fid.max_images=100", "xrv-densenet121.layer=features2"])
    assert profile.metrics["fid"]["max_images"] == 100 and get_profile("roentgen2022").metrics["fid"]["max_images"] == 5000
    assert profile.label.startswith("roentgen2022 v2.1 + metrics.fid.max_images=100")


def test_ls_lists_a_profiles_settings_and_a_metrics_settings(capsys):
    code, out, _ = run(["ls", "profiles", "roentgen2022"], capsys)
    assert code == 0 and "metrics.ms_ssim.samples_per_prompt=4" in out and "--set" in out
    code, out, _ = run(["ls", "metrics", "ms_ssim"], capsys)
    assert code == 0 and "min_samples_per_prompt" in out and "resize" in out
    code, out, err = run(["ls", "profiles", "nope"], capsys)
    assert code == 2 and "no profiles named 'nope'" in err


def test_prompts_without_generated_images_are_named_or_recorded_with_subset(tmp_path, capsys):
    rng = np.random.default_rng(1)
    gen, real = tmp_path / "gen", tmp_path / "real"
    gen.mkdir(), real.mkdir()
    rows = ["prompt_id,text,Cardiomegaly"]
    for i in range(6):
        pid = f"p{i}"
        rows.append(f"{pid},Finding {i}.,{i % 2}")
        Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(real / f"{pid}_0.png")
        if i < 3:  # the generator failed on the rest
            Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(gen / f"{pid}_0.png")
    (tmp_path / "prompts.csv").write_text("\n".join(rows) + "\n")
    args = ["score", "--images", str(gen), "--reference", str(real), "--prompts", str(tmp_path / "prompts.csv"),
            "--metrics", "fid[inception-v3-fid]", "--offline"]
    code, out, err = run(args, capsys)
    assert code == 2 and "3 prompt(s) have no generated image: 'p3', 'p4', 'p5'" in err and "--subset" in err
    code, out, err = run(args + ["--subset", "--json"], capsys)
    subject = json.loads(out)["subject"]
    assert subject["subset"]["requested"]["prompts"] == 6 and subject["subset"]["effective"]["prompts"] == 3
    assert subject["subset"]["dropped"]["prompts_without_images"] == ["p3", "p4", "p5"]
    code, out, err = run(args + ["--subset"], capsys)
    assert "--subset: 3 of 6 prompts scored; left out: p3, p4, p5" in out


def test_reference_prompts_label_reference_images_without_generated_ones(tmp_path):
    from cxrgen_bench.data.manifest import PromptSet
    from cxrgen_bench.scoring.runner import build_subject

    rng = np.random.default_rng(2)
    gen, real = tmp_path / "gen", tmp_path / "real"
    gen.mkdir(), real.mkdir()
    (tmp_path / "q.csv").write_text("prompt_id,text,Edema\nq0,Edema.,1\nq1,No edema.,0\n")
    (tmp_path / "c.csv").write_text("prompt_id,text,Edema\nc0,Mild edema.,1\nc1,Clear lungs.,0\nq0,Edema.,1\n")
    for pid in ("q0", "q1"):
        Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(gen / f"{pid}_0.png")
    for pid in ("c0", "c1"):
        Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(real / f"{pid}_0.png")
    subject = build_subject(gen, real, tmp_path / "q.csv",
                                                        reference_prompts=tmp_path / "c.csv")
    assert list(subject.prompts.prompts) == ["q0", "q1", "c0", "c1"]
    assert subject.prompts.describe()["reference_prompts"]["n_prompts"] == 3
    (tmp_path / "bad.csv").write_text("prompt_id,text,Edema\nq0,Something else.,1\nc0,x,1\nc1,y,0\n")
    with pytest.raises(InputError, match="'q0' is in .* with a different text"):
        PromptSet.from_csv(tmp_path / "q.csv").with_reference(PromptSet.from_csv(tmp_path / "bad.csv"))
    (tmp_path / "few.csv").write_text("prompt_id,text,Edema\nc0,Mild edema.,1\n")
    with pytest.raises(InputError, match="1 reference image id.*'c1'"):
        build_subject(gen, real, tmp_path / "q.csv", reference_prompts=tmp_path / "few.csv")


def test_every_argument_of_every_command_has_help():
    """`--help` describes every argument: a flag or positional without a help text fails here."""
    missing = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, path + [name])
            elif not isinstance(action, argparse._HelpAction):
                if action.help == argparse.SUPPRESS and action.dest == "rest":
                    continue  # a broken plug-in's catch-all, which only says why it is broken
                if not action.help or action.help == argparse.SUPPRESS:
                    missing.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), ["cxrgen-bench"])
    assert not missing, missing
