"""The evaluation core's extension points, used as a third party would: plug-ins defined in separate
modules (tests/plugins/) and installed through entry points, with no edit to any core module. A new
metric is found by `ls`, computed by `score`, stored in the results, placed on the rebuilt board by its
card, and judged by the gate in its card's direction; a text metric runs on a text encoder with no
images; a study resumes after a kill to the numbers of an uninterrupted run."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cxrgen_bench
from cxrgen_bench.cli import main
from cxrgen_bench.errors import InputError, RegistryError
from cxrgen_bench.gate import REGRESSION, load_rules, run_gate
from cxrgen_bench.leaderboard.render import build
from cxrgen_bench.leaderboard.store import Store
from cxrgen_bench.registry import METRICS

REPO = Path(__file__).resolve().parents[1]
BRIGHTNESS = {"cxrgen_bench.metrics": {"mean_brightness": "tests.plugins.brightness:MeanBrightness"}}


def darker_copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in src.glob("*.png"):
        Image.fromarray((np.asarray(Image.open(f), np.float32) * 0.5).astype(np.uint8)).save(dst / f.name)
    return dst


def test_third_party_metric_is_listed_scored_stored_ranked_and_gated(plugins, synthetic_sets, tmp_path, capsys):
    plugins(BRIGHTNESS)
    assert main(["ls", "metrics", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["metrics"]["mean_brightness"]
    assert listed["source"] == "entry point of cxrgen-test-plugins" and listed["card"]["direction"] == "higher"

    dark = darker_copy(synthetic_sets["gen"], tmp_path / "dark")
    common = dict(metrics="mean_brightness,ms_ssim", bootstrap=50, cache_dir=tmp_path / "cache")
    bright = cxrgen_bench.score(images=synthetic_sets["gen"], out=tmp_path / "bright.json", model_name="bright", **common)
    dim = cxrgen_bench.score(images=dark, out=tmp_path / "dim.json", model_name="dim", **common)
    entry = bright["metrics"]["mean_brightness"]
    assert entry["version"] == "3" and "direction" not in entry and entry["ci95"][0] <= entry["value"] <= entry["ci95"][1]
    assert dim["metrics"]["mean_brightness"]["value"] < entry["value"]
    assert any("does not configure mean_brightness" in w for w in entry["warnings"])

    store = Store(tmp_path / "board")
    for name in ("bright", "dim"):
        store.add(tmp_path / f"{name}.json")
    md = build(store.load(), tmp_path / "board")["README.md"].read_text()
    sections = [line for line in md.splitlines() if line.startswith("## ")]
    assert sections[:3] == ["## Summary: generators — profile roentgen2022 v2.1",  # one headline per section
                            "## Fidelity and diversity — profile roentgen2022 v2.1",
                            "## Plug-in: image brightness — profile roentgen2022 v2.1"]  # its card's order: 15
    assert "| model | Brightness ↑ |" in md and "| bright | **" in md  # ranked by the card's direction

    rules = load_rules(None)
    assert run_gate(bright, dim, rules).exit_code == REGRESSION  # darker is worse: "higher is better"
    report = run_gate(dim, bright, rules)
    assert {r.key: r.status for r in report.rows}["mean_brightness"] == "ok"
    site = plugins(BRIGHTNESS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    done = subprocess.run([sys.executable, "-m", "cxrgen_bench", "ls", "metrics"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert "mean_brightness [entry point of cxrgen-test-plugins]  (higher is better)" in done.stdout


def test_plugins_that_cannot_load_or_take_a_name_are_named_not_tracebacks(plugins, synthetic_sets, capsys):
    plugins({"cxrgen_bench.metrics": {"broken": "tests.plugins.broken_card:Broken"}})
    assert main(["score", "--images", str(synthetic_sets["gen"]), "--metrics", "broken"]) == 2
    err = capsys.readouterr().err
    assert "metrics 'broken' (entry point of cxrgen-test-plugins)" in err and "TypeError" in err
    assert "Traceback" not in err
    assert main(["ls", "metrics"]) == 0
    assert "broken [entry point of cxrgen-test-plugins]  BROKEN:" in capsys.readouterr().out

    plugins({"cxrgen_bench.metrics": {"fid": "tests.plugins.brightness:MeanBrightness"}})
    with pytest.raises(RegistryError, match="metrics 'fid' is registered twice: by built-in and by entry point of "
                                            "cxrgen-test-plugins"):
        METRICS.names()


def test_metric_requirements_are_checked_before_any_work(plugins, synthetic_sets, tmp_path, monkeypatch, capsys):
    from cxrgen_bench.models.image.base import Backbone

    plugins({"cxrgen_bench.metrics": {"neighbour_labels": "tests.plugins.neighbour_labels:NeighbourLabels"}})
    calls = []
    monkeypatch.setattr(Backbone, "features", lambda *a: calls.append(1))
    with pytest.raises(InputError, match=r"metric neighbour_labels needs a text encoder \(--text-encoder\); a report "
                                         r"set .*; this run evaluates the image folder .*gen with reference images"):
        cxrgen_bench.score(images=synthetic_sets["gen"], reference=synthetic_sets["ref"],
                           metrics="fid,neighbour_labels")
    out = tmp_path / "r.json"
    assert main(["score", "--images", str(synthetic_sets["gen"]), "--metrics", "classifier_auroc,ms_ssim",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "metric classifier_auroc needs prompt texts" in err and "CheXpert label columns" in err
    assert not out.exists() and calls == []


def test_text_encoder_subject_without_images(plugins, minilm, tmp_path, monkeypatch, capsys):
    from cxrgen_bench.models.text.base import TextEncoder

    plugins({"cxrgen_bench.metrics": {"neighbour_labels": "tests.plugins.neighbour_labels:NeighbourLabels"}})
    reports = tmp_path / "reports.csv"
    rows = ["prompt_id,text,Pleural Effusion,Cardiomegaly"]
    texts = [("Small left pleural effusion.", 1, 0), ("Moderate right pleural effusion.", 1, 0),
             ("Cardiomegaly.", 0, 1), ("The heart is enlarged.", 0, 1), ("No acute process. " * 200, 0, 0),
             ("Normal chest radiograph.", 0, 0)]
    rows += [f'r{i},"{t}",{e},{c}' for i, (t, e, c) in enumerate(texts)]
    reports.write_text("\n".join(rows) + "\n")
    out = tmp_path / "te.json"
    args = ["score", "--text-encoder", minilm, "--reports", str(reports), "--metrics", "neighbour_labels",
            "--extraction", "cls,mean", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    assert main(args) == 0
    result = json.loads(out.read_text())
    assert result["subject"]["kind"] == "text-encoder" and result["subject"]["extractions"] == ["cls", "mean"]
    assert result["report_set"]["n_prompts"] == 6 and "prompt_set" not in result
    assert result["weights"]["text_encoder"]["name"] == "transformers"
    assert result["subject"]["content_sha256"] == result["weights"]["text_encoder"]["sha256"]
    assert {k: v["details"]["truncated"] for k, v in result["metrics"].items()} == {
        "neighbour_labels[cls]": 1, "neighbour_labels[mean]": 1}
    assert 0.5 <= result["metrics"]["neighbour_labels[mean]"]["value"] <= 1.0
    calls = []
    original = TextEncoder.encode
    monkeypatch.setattr(TextEncoder, "encode", lambda self, *a: calls.append(1) or original(self, *a))
    assert main(args) == 0
    assert calls == []  # embeddings come from the cache, keyed by text content × weights × extraction
    again = json.loads(out.read_text())
    assert again["metrics"] == result["metrics"]
    assert main(["score", "--text-encoder", minilm, "--reports", str(reports), "--metrics", "fid", "--quiet"]) == 2
    assert "metric fid needs an image set (--images)" in capsys.readouterr().err


def test_study_resumes_after_a_kill_to_the_uninterrupted_numbers(plugins, tmp_path, capsys, monkeypatch):
    from tests.plugins import toy_study

    plugins({"cxrgen_bench.studies": {"toy-logistic": "tests.plugins.toy_study:ToyLogistic"},
             "cxrgen_bench.metrics": {"toy_accuracy": "tests.plugins.toy_study:ToyAccuracy"}})
    args = ["study", "toy-logistic", "--epochs", "4", "--seeds", "0,1", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "straight")]) == 0
    monkeypatch.setattr(toy_study, "CRASH_AT", ("seed1", 1))
    with pytest.raises(RuntimeError, match="killed in seed1 after epoch 1"):
        main([*args, "--out", str(tmp_path / "killed")])
    assert (tmp_path / "killed" / "units" / "seed0.json").is_file()  # the finished unit is kept
    assert (tmp_path / "killed" / "units" / "seed1" / "checkpoint-1").is_dir()  # and the cut one's checkpoint
    monkeypatch.setattr(toy_study, "CRASH_AT", None)
    assert main([*args, "--out", str(tmp_path / "killed")]) == 0
    straight, resumed = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("straight", "killed"))
    assert resumed["metrics"] == straight["metrics"] and resumed["subject"] == straight["subject"]
    assert straight["subject"]["kind"] == "study" and 0.6 < straight["metrics"]["toy_accuracy"]["value"] <= 1
    for unit in ("seed0", "seed1"):
        a, b = (json.loads((tmp_path / d / "units" / f"{unit}.json").read_text()) for d in ("straight", "killed"))
        assert a == b  # same weights to the last bit

    capsys.readouterr()
    assert main([*args[:2], "--epochs", "5", "--out", str(tmp_path / "killed"), "--quiet"]) == 2
    assert "other settings (differences in: settings.epochs)" in capsys.readouterr().err
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(images / "p0_0.png")
    with pytest.raises(InputError, match="metric toy_accuracy needs a study that trains models"):
        cxrgen_bench.score(images=images, metrics="toy_accuracy")
    board = build([{**straight, "name": "toy"}], tmp_path / "board")["README.md"].read_text()
    assert "## Downstream utility: augmentation" in board and "Toy accuracy ↑" in board


def test_generation_record_is_the_results_provenance(tmp_path):
    prompts = tmp_path / "p.csv"
    prompts.write_text("prompt_id,text\np0,Left effusion.\np1,Normal.\n")
    out = tmp_path / "gen"
    cxrgen_bench.generate(generator="callable", model="tests.gen_helpers:noise_image", prompts=prompts, out=out,
                          samples_per_prompt=2, resolution=200, progress=False)
    result = cxrgen_bench.score(images=out, metrics="ms_ssim", cache_dir=tmp_path / "c")
    generator = result["model"]["generator"]
    assert generator["name"] == "callable" and generator["model"] == "tests.gen_helpers:noise_image"
    assert generator["matches_images"] is True and generator["settings"]["samples_per_prompt"] == 2
    assert len(generator["record_sha256"]) == 64
    shutil.copy(out / "p0_0.png", out / "p0_1.png")  # the folder changed after generation
    from cxrgen_bench.errors import InputError

    with pytest.raises(InputError, match=r"manifest.csv, row 3: .*p0_1.png has sha256"):  # the manifest's hashes
        cxrgen_bench.score(images=out, metrics="ms_ssim", cache_dir=tmp_path / "c")
    import csv

    with open(out / "manifest.csv", newline="") as f:  # without hashes to check, the record still tells
        rows = [{k: v for k, v in r.items() if k != "sha256"} for r in csv.DictReader(f)]
    with open(out / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    changed = cxrgen_bench.score(images=out, metrics="ms_ssim", cache_dir=tmp_path / "c")
    assert changed["model"]["generator"]["matches_images"] is False
    (out / "generation.json").unlink()
    plain = cxrgen_bench.score(images=out, metrics="ms_ssim", cache_dir=tmp_path / "c")
    assert plain["model"]["generator"]["name"] == "folder" and "no generation.json" in plain["model"]["generator"]["note"]


def test_stored_version_1_entries_still_load_and_render(tmp_path):
    """Entries stored by version 1 (kept in tests/data/entries-v1) load through the migration, equal the
    entries imported today from the same typed-in numbers, and render."""
    from cxrgen_bench.leaderboard.reported import load_reported

    shutil.copytree(REPO / "tests" / "data" / "entries-v1", tmp_path / "store" / "entries")
    entries = Store(tmp_path / "store").load()
    assert all(json.loads(p.read_text())["schema_version"] == "1"
               for p in (tmp_path / "store" / "entries").glob("*.json"))
    fresh = {e["model"]["name"]: e for e in load_reported(REPO / "leaderboard" / "reported" / "roentgen2022.yaml")}
    for entry in entries:  # every number stored by version 1 reads as today's import of it
        assert entry["schema_version"] == "2"
        today = fresh[entry["model"]["name"]]["metrics"]
        assert {k: today[k] for k in entry["metrics"]} == entry["metrics"], entry["name"]
    md = build(entries, tmp_path / "board")["README.md"].read_text()
    assert "| RoentGen (5e-5, 60k) † | 3.6 | 54.9 |" in md and "| Text encoder: ClinicalBERT † |" in md


def test_broken_trainer_or_study_plugins_leave_the_command_line_working(plugins, tmp_path, capsys):
    plugins({"cxrgen_bench.studies": {"half-done": "tests.plugins.missing_module:Study"},
             "cxrgen_bench.trainers": {"lost": "tests.plugins.missing_module:Trainer"}})
    with pytest.raises(SystemExit) as exit_:
        main(["study", "--help"])
    assert exit_.value.code == 0 and "BROKEN" in capsys.readouterr().out
    assert main(["study", "half-done", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "studies 'half-done' (entry point of cxrgen-test-plugins)" in err and "Traceback" not in err
    assert main(["train", "lost"]) == 2 and "trainers 'lost'" in capsys.readouterr().err
    assert main(["ls", "metrics"]) == 0


def test_an_unreadable_generation_record_costs_no_metric(tmp_path):
    prompts = tmp_path / "p.csv"
    prompts.write_text("prompt_id,text\np0,Left effusion.\np1,Normal.\n")
    out = tmp_path / "gen"
    cxrgen_bench.generate(generator="callable", model="tests.gen_helpers:noise_image", prompts=prompts, out=out,
                          samples_per_prompt=4, resolution=200, progress=False)
    (out / "generation.json").write_text('{"prompts": {}}')  # no generator block
    result = cxrgen_bench.score(images=out, metrics="ms_ssim", cache_dir=tmp_path / "c")
    assert result["status"] == "complete" and result["metrics"]["ms_ssim"]["value"] is not None
    assert "unreadable generation.json" in result["model"]["generator"]["note"]
