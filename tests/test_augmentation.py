"""The augmentation study (RoentGen Table 5): resume = uninterrupted, the known answer on phantoms,
the decode-once cache, the summary's statistics, the board's Table 5 layout and bad input."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cxrgen_bench.calibration.dataset import PhantomDataset
from cxrgen_bench.data.datasets.base import PromptTable
from cxrgen_bench.data.manifest import PromptSet
from cxrgen_bench.errors import InputError
from cxrgen_bench.evaluation.context import RunOptions
from cxrgen_bench.generation import generate
from cxrgen_bench.studies import run_study
from cxrgen_bench.studies.augmentation import AugmentationStudy, mix_key, mix_label, parse_plan, plan_from_regimes
from cxrgen_bench.training.classifier import scores
from cxrgen_bench.training.image_cache import Rows, build_cache, to_training_pixels

PROFILE = "calibration-phantom"


def phantoms(root: Path, n_train: int, n_test: int, n_prompts: int, generators: tuple[str, ...]) -> dict[str, Path]:
    """Real phantoms (train pool, test) and each stand-in's images for the first `n_prompts` training prompts."""
    data = PhantomDataset(root / "data")
    table = data.prompts(limit=n_train, seed=11, size=128)
    paths = {"train": table.write(root / "data" / "train.csv"),
             "test": data.prompts(limit=n_test, seed=12, size=128).write(root / "data" / "test.csv"),
             "synthetic_prompts": PromptTable(table.rows[:n_prompts], table.description).write(root / "data" / "syn.csv")}
    for g in generators:
        generate(generator=g, prompts=paths["synthetic_prompts"], out=root / "gen" / g, profile=PROFILE,
                 progress=False, resolution=128)
        paths[g] = root / "gen" / g
    return paths


def study(paths: dict[str, Path], root: Path, generator: str | None, plan: list[str], seeds: list[int],
          **overrides) -> AugmentationStudy:
    return AugmentationStudy({"real_train": str(paths["train"]), "real_test": str(paths["test"]),
                              "images_root": str(root / "data"), "synthetic": str(paths[generator]) if generator else None,
                              "synthetic_prompts": str(paths["synthetic_prompts"]), "plan": plan, "seeds": seeds,
                              "overrides": overrides}, PROFILE, RunOptions(progress=False))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("aug")
    return root, phantoms(root, n_train=120, n_test=80, n_prompts=20, generators=("phantom-faithful",))


# --- resume ------------------------------------------------------------------------------------------

def test_a_killed_study_resumes_to_the_numbers_of_an_uninterrupted_run(small, tmp_path):
    root, paths = small
    settings = dict(max_epochs=4, resolution=32)
    whole = run_study(study(paths, root, "phantom-faithful", ["60:0", "0:60", "60:60"], [0], **settings),
                      tmp_path / "whole")

    killed = study(paths, root, "phantom-faithful", ["60:0", "0:60", "60:60"], [0], **settings)

    def kill(epoch: int) -> None:  # in the second unit, after its second epoch: mid-unit and mid-study
        if (tmp_path / "resumed" / "units" / "r60-s0-seed0.json").exists() and epoch == 1:
            raise KeyboardInterrupt("killed")
    killed.after_epoch = kill
    with pytest.raises(KeyboardInterrupt):
        run_study(killed, tmp_path / "resumed")
    assert (tmp_path / "resumed" / "units" / "r0-s60-seed0" / "checkpoint-1" / "state.json").is_file()
    resumed = run_study(study(paths, root, "phantom-faithful", ["60:0", "0:60", "60:60"], [0], **settings),
                        tmp_path / "resumed")
    for key, entry in whole["metrics"].items():
        assert resumed["metrics"][key]["value"] == entry["value"], key
        assert resumed["metrics"][key]["details"].get("per_class") == entry["details"].get("per_class"), key
    units = sorted((tmp_path / "whole" / "units").glob("*.json"))
    for u in units:
        a = json.loads(u.read_text())["outputs"]
        b = json.loads((tmp_path / "resumed" / "units" / u.name).read_text())["outputs"]
        assert a["history"] == b["history"] and a["test"] == b["test"]
    unit = tmp_path / "resumed" / "units" / "r0-s60-seed0"
    assert (unit / "best.safetensors").is_file() and not list(unit.glob("checkpoint-*"))  # resume state removed


# --- known answer ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_known_answer_faithful_synthetic_trains_like_real_and_ignoring_the_prompt_is_near_chance(tmp_path):
    paths = phantoms(tmp_path, n_train=300, n_test=160, n_prompts=80,
                     generators=("phantom-faithful", "phantom-ignores-prompt"))
    settings = dict(max_epochs=12, resolution=48)
    faithful = run_study(study(paths, tmp_path, "phantom-faithful", ["240:0", "0:240"], [0], **settings),
                         tmp_path / "faithful")["metrics"]
    ignores = run_study(study(paths, tmp_path, "phantom-ignores-prompt", ["0:240"], [0], **settings),
                        tmp_path / "ignores")["metrics"]
    real = faithful["augmentation_auroc[real-240]"]["value"]
    synthetic = faithful["augmentation_auroc[synthetic-240]"]["value"]
    chance = ignores["augmentation_auroc[synthetic-240]"]["value"]
    assert real > 0.75 and abs(synthetic - real) < 0.1, (real, synthetic)
    assert chance < 0.65 and synthetic - chance > 0.15, (synthetic, chance)
    assert faithful["augmentation_auroc_gain[synthetic-240]"]["value"] == pytest.approx(synthetic - real)


# --- the decode-once cache ---------------------------------------------------------------------------

def test_cache_decodes_once_and_holds_the_training_pixels(small, tmp_path, monkeypatch):
    root, paths = small
    files = sorted((root / "data" / "images").glob("*.png"))[:5]
    items = [(f.stem, f) for f in files]
    first = build_cache(tmp_path, "real", items, 24)
    assert first.pixels.shape == (5, 24, 24) and first.pixels.dtype == np.uint8
    np.testing.assert_array_equal(first.pixels[3], to_training_pixels(files[3], 24))
    import cxrgen_bench.training.image_cache as ic

    monkeypatch.setattr(ic, "to_training_pixels", lambda *a: pytest.fail("decoded again"))
    again = build_cache(tmp_path, "real", items, 24)
    np.testing.assert_array_equal(again.pixels, first.pixels)
    assert isinstance(again.pixels, np.memmap)
    assert first.index["source_sizes"] == {"128x128": 5}  # every image resized by one rule; the sizes met recorded


def test_rows_gather_from_several_memory_maps_like_a_concatenation():
    a, b = np.arange(5 * 4).reshape(5, 2, 2).astype(np.uint8), 100 + np.arange(3 * 4).reshape(3, 2, 2).astype(np.uint8)
    rows = Rows([(a, np.array([4, 0, 2])), (b, np.array([1, 2]))])
    whole = np.concatenate([a[[4, 0, 2]], b[[1, 2]]])
    assert len(rows) == 5
    for pick in ([0, 1, 2, 3, 4], [4, 0], [3], [2, 3, 1]):
        np.testing.assert_array_equal(rows[np.array(pick)], whole[pick])


# --- statistics --------------------------------------------------------------------------------------

def test_scores_agree_with_scikit_learn_per_class():
    from sklearn.metrics import accuracy_score, roc_auc_score

    rng = np.random.default_rng(0)
    p = rng.random((50, 3))
    y = (rng.random((50, 3)) < 0.4).astype(float)
    y[5, 1] = np.nan  # unknown: skipped for that class only
    out = scores(p, y, ["a", "b", "c"], 0.5)
    for j, c in enumerate("abc"):
        keep = ~np.isnan(y[:, j])
        assert out["auroc"][c] == pytest.approx(roc_auc_score(y[keep, j], p[keep, j]), abs=1e-12)
        assert out["accuracy"][c] == pytest.approx(accuracy_score(y[keep, j], p[keep, j] >= 0.5))
    assert out["mean_auroc"] == pytest.approx(np.mean(list(out["auroc"].values())))


def test_summary_means_over_seeds_with_t_intervals_and_gains_paired_by_seed(small):
    from scipy.stats import t

    root, paths = small
    s = study(paths, root, "phantom-faithful", ["60:0", "0:60"], [0, 1, 2])
    classes = s.classes
    base, synth = [0.70, 0.74, 0.72], [0.66, 0.73, 0.69]
    outputs = {}
    for seed in range(3):
        for (r, syn), v in (((60, 0), base[seed]), ((0, 60), synth[seed])):
            test = {"auroc": {c: v for c in classes}, "mean_auroc": v, "accuracy": {c: 0.8 for c in classes},
                    "mean_accuracy": 0.8}
            outputs[f"r{r}-s{syn}-seed{seed}"] = {"real": r, "synthetic": syn, "seed": seed, "test": test, "n_test": 80,
                                                  "best_epoch": 1, "stopped": "max epochs"}
    entries = {e.key: e.to_json() for e in s.summarise(outputs)}
    auroc = entries["augmentation_auroc[real-60]"]
    assert auroc["value"] == pytest.approx(np.mean(base)) and auroc["std"] == pytest.approx(np.std(base, ddof=1))
    lo, hi = t.interval(0.95, 2, loc=np.mean(base), scale=np.std(base, ddof=1) / math.sqrt(3))
    assert auroc["ci95"] == pytest.approx([lo, hi])
    gain = entries["augmentation_auroc_gain[synthetic-60]"]
    diffs = np.subtract(synth, base)
    assert gain["value"] == pytest.approx(diffs.mean()) and gain["std"] == pytest.approx(np.std(diffs, ddof=1))
    assert gain["details"]["baseline"] == "60 real" and "augmentation_auroc_gain[real-60]" not in entries
    assert auroc["details"]["row_label"] == "60 real" and auroc["n"] == {"requested": 3, "effective": 3}


def test_plan_parsing_and_labels():
    assert parse_plan(["1100:0", "0:5500", "1100:1100"], "plan") == [(1100, 0), (0, 5500), (1100, 1100)]
    assert plan_from_regimes(["real", "real+synthetic"], [1100, 30000]) == ["1100:0", "1100:1100", "30000:0",
                                                                           "30000:30000"]
    assert mix_key(1100, 5500) == "real-1100+synthetic-5500" and mix_key(0, 30000) == "synthetic-30000"
    assert mix_label(1100, 5500) == "1.1k real + 5.5k synthetic" and mix_label(30000, 0) == "30k real"
    for bad in (["1100"], ["a:b"], ["0:0"], ["-1:5"], ["5:5", "5:5"]):
        with pytest.raises(InputError, match="plan"):
            parse_plan(bad, "plan")


# --- bad input ---------------------------------------------------------------------------------------

def test_synthetic_images_without_labels_are_named(small, tmp_path):
    root, paths = small
    other = PhantomDataset().prompts(limit=3, seed=99)
    csv = other.write(tmp_path / "other.csv")
    s = study(paths, root, "phantom-faithful", ["0:10"], [0])
    s.settings["synthetic_prompts"] = str(csv)
    with pytest.raises(InputError, match=r"have no labels in .*other\.csv, e\.g\. \['ph11-0000'"):
        run_study(s, tmp_path / "out")
    assert not (tmp_path / "out" / "results.json").exists()


def test_sizes_larger_than_the_data_are_refused_before_training(small, tmp_path):
    root, paths = small
    with pytest.raises(InputError, match=r"5000 real images asked for, the real training pool has 96"):
        run_study(study(paths, root, "phantom-faithful", ["5000:0"], [0]), tmp_path / "a")
    # 20 prompts × 4 samples, less those generated from the prompts the validation share holds
    with pytest.raises(InputError, match=r"500 synthetic images asked for, .* has 64 usable \(16 generated from "
                                         r"validation or test prompts are left out\)"):
        run_study(study(paths, root, "phantom-faithful", ["0:500"], [0]), tmp_path / "b")
    # the whole plan is checked before the first unit trains, not when the failing mix is reached
    with pytest.raises(InputError, match="5000 real images"):
        run_study(study(paths, root, "phantom-faithful", ["20:0", "5000:0"], [0]), tmp_path / "d")
    assert not list((tmp_path / "d" / "units").glob("*.json"))
    with pytest.raises(InputError, match="no --synthetic folder"):
        run_study(study(paths, root, None, ["0:10"], [0]), tmp_path / "c")


def test_a_test_image_that_also_trains_is_refused(small, tmp_path):
    root, paths = small
    train = PhantomDataset(root / "data").prompts(limit=120, seed=11, size=128).rows
    test = PhantomDataset(root / "data").prompts(limit=80, seed=12, size=128).rows
    order = np.random.default_rng(0).permutation(120)  # the validation share: the first 20% (validation_seed 0)
    trains, validates = int(order[50]), int(order[3])
    for row, message in ((trains, r"of real-train are also in real-test \(identical files\), e\.g\. \[\('{}', "
                                  r"'sneaky'\)\]"),
                         (validates, r"are in both real-test and validation share of real-train \(identical files\), "
                                     r"e\.g\. \[\('sneaky', '{}'\)\]")):
        leaky = PromptTable(test[:-1] + [{**train[row], "prompt_id": "sneaky"}], {}).write(tmp_path / "test.csv")
        s = study(paths, root, "phantom-faithful", ["60:0"], [0])
        s.settings["real_test"] = str(leaky)
        with pytest.raises(InputError, match=message.format(train[row]["prompt_id"])):
            run_study(s, tmp_path / f"out{row}")


def test_uncertain_labels_train_as_positive_and_are_left_out_of_scoring(small, tmp_path):
    root, paths = small
    s = study(paths, root, "phantom-faithful", ["60:0"], [0])
    table = PromptSet.from_csv(paths["train"])
    pid = next(p for p, row in table.prompts.items() if row.labels.get("Pleural Effusion") == -1.0)
    j = s.classes.index("Pleural Effusion")
    assert s._labels(table, [pid], "x", s.policy)[0, j] == 1.0
    assert np.isnan(s._labels(table, [pid], "x", s.eval_policy)[0, j])


def test_an_empty_class_in_the_test_split_is_named(small, tmp_path):
    root, paths = small
    rows = [r for r in PhantomDataset(root / "data").prompts(limit=80, seed=12, size=128).rows
            if r["Cardiomegaly"] != 1.0]
    csv = PromptTable(rows, {}).write(tmp_path / "test.csv")
    s = study(paths, root, "phantom-faithful", ["60:0"], [0])
    s.settings["real_test"] = str(csv)
    with pytest.raises(InputError, match=r"the test split has no positive images of 'Cardiomegaly'"):
        run_study(s, tmp_path / "out")


def test_cli_reports_bad_flags_without_a_traceback(small, tmp_path):
    root, paths = small
    base = [sys.executable, "-m", "cxrgen_bench", "study", "augmentation", "--real-train", str(paths["train"]),
            "--real-test", str(paths["test"]), "--images-root", str(root / "data"), "--profile", PROFILE,
            "--out", str(tmp_path / "o"), "--quiet"]
    for extra, message in ((["--plan", "10:0", "--regimes", "real"], "--plan and --regimes"),
                           (["--regimes", "real,fake", "--sizes", "10"], "unknown ['fake']"),
                           (["--plan", "10"], "not REAL:SYNTHETIC"),
                           (["--max-epochs", "0"], "--max-epochs must be a positive integer"),
                           (["--plan", "10:0", "--resolution", "8"], "resolution 8 is too small for densenet-tiny")):
        run = subprocess.run(base + extra, capture_output=True, text=True)
        assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr, run.stderr


# --- board ---------------------------------------------------------------------------------------------

def test_the_board_lays_study_rows_out_like_table_5_beside_the_paper(tmp_path):
    from cxrgen_bench.leaderboard.render import build
    from cxrgen_bench.leaderboard.reported import load_reported
    from tests.results_factory import measured

    result = measured(name="my-generator")
    result["metrics"] = {}
    for option, label, value in (("real-1100", "1.1k real", 0.71),
                                 ("real-1100+synthetic-1100", "1.1k real + 1.1k synthetic", 0.75)):
        for metric in ("augmentation_auroc", "augmentation_accuracy"):
            result["metrics"][f"{metric}[{option}]"] = {
                "key": f"{metric}[{option}]", "metric": metric, "version": "1", "value": value,
                "n": {"requested": 3, "effective": 3}, "std": 0.01, "ci95": [value - 0.02, value + 0.02],
                "details": {"row_label": label}}
    reported = [{**e, "name": e["model"]["name"]} for e in load_reported("leaderboard/reported/roentgen2022.yaml")
                if "augmentation_auroc" in e["metrics"]]
    board = build([{**result, "name": "my-generator"}, *reported], tmp_path)["README.md"].read_text()
    table = board.split("## Downstream utility: augmentation")[1].split("\n## ")[0]
    assert "| my-generator: 1.1k real + 1.1k synthetic | 0.750 ± 0.010 [0.730, 0.770] | 0.750" in table
    assert "| Augmentation: 1.1k real (baseline) † | 0.730 | 0.710 |" in table


def test_units_shared_between_processes_give_the_numbers_of_one_process(small, tmp_path):
    """torchrun / accelerate launch: rank r runs units r, r + world, ...; rank 0 writes the results."""
    root, paths = small
    settings = dict(max_epochs=2, resolution=24)
    plan = ["40:0", "0:40", "40:40"]
    one = run_study(study(paths, root, "phantom-faithful", plan, [0], **settings), tmp_path / "one")
    shared = tmp_path / "shared"
    assert run_study(study(paths, root, "phantom-faithful", plan, [0], **settings), shared, share=(1, 2)) is None
    assert sorted(p.name for p in (shared / "units").glob("*.json")) == ["r0-s40-seed0.json"]
    two = run_study(study(paths, root, "phantom-faithful", plan, [0], **settings), shared, share=(0, 2), wait_s=0.01)
    assert {k: m["value"] for k, m in two["metrics"].items()} == {k: m["value"] for k, m in one["metrics"].items()}
    assert two["run"]["settings"]["processes"] == 2


def test_a_study_records_the_seconds_it_ran_on_a_fresh_and_on_a_resumed_run(small, tmp_path):
    root, paths = small
    for run in ("fresh", "resumed"):  # a resumed run finds finished units in its folder
        s = study(paths, root, "phantom-faithful", ["40:0"], [0], max_epochs=2, resolution=24)
        began = time.monotonic()
        result = run_study(s, tmp_path / "out")
        wall = time.monotonic() - began
        assert 0 <= result["run"]["duration_s"] <= wall, run


def test_study_results_are_gated_stored_and_compared_like_any_results(small, tmp_path):
    import copy

    from cxrgen_bench.gate import PASS, REGRESSION, load_rules, run_gate
    from cxrgen_bench.leaderboard.store import Store

    root, paths = small
    base = run_study(study(paths, root, "phantom-faithful", ["40:0", "0:40"], [0], max_epochs=2, resolution=24),
                     tmp_path / "base")
    worse = copy.deepcopy(base)
    key = "augmentation_auroc[synthetic-40]"
    worse["metrics"][key]["value"] -= 0.05
    rules = load_rules(None)
    assert run_gate(base, base, rules).exit_code == PASS
    report = run_gate(base, worse, rules)
    assert report.exit_code == REGRESSION and [r.key for r in report.rows if r.status == "regression"] == [key]
    store = Store(tmp_path / "board")
    store.add(tmp_path / "base" / "results.json")
    assert store.load()[0]["metrics"][key]["value"] == base["metrics"][key]["value"]


# --- fairness (issue 26) ---------------------------------------------------------------------------------

def test_underdiagnosis_is_the_no_finding_false_positive_rate_per_group():
    from cxrgen_bench.functional.subgroups import underdiagnosis

    scores = np.array([0.9, 0.2, 0.7, 0.6, 0.1, 0.8, 0.3])
    truth = np.array([0, 0, 1, 0, 0, np.nan, 0])  # 1: healthy (not counted), nan: unlabelled
    groups = ["f", "f", "f", "m", "m", "m", "m"]
    out = underdiagnosis(scores, truth, groups, threshold=0.5)
    assert out == {"f": {"rate": 0.5, "n": 2}, "m": {"rate": 1 / 3, "n": 3}}


def test_fairness_by_sex_reports_auroc_per_group_and_the_underdiagnosis_gap(tmp_path):
    data = PhantomDataset(tmp_path / "data")
    train = data.prompts(limit=120, seed=21, size=128, demographics=True).write(tmp_path / "data" / "train.csv")
    test = data.prompts(limit=80, seed=22, size=128, demographics=True).write(tmp_path / "data" / "test.csv")
    generate(generator="phantom-faithful", prompts=train, out=tmp_path / "gen", profile=PROFILE, progress=False,
             resolution=128, samples_per_prompt=1)
    s = AugmentationStudy({"real_train": str(train), "real_test": str(test), "images_root": str(tmp_path / "data"),
                           "synthetic": str(tmp_path / "gen"), "synthetic_prompts": str(train), "plan": ["60:0", "60:60"],
                           "seeds": [0, 1], "overrides": {"max_epochs": 2, "resolution": 32}, "fairness_by": ["sex"]},
                          PROFILE, RunOptions(progress=False))
    result = run_study(s, tmp_path / "out")
    metrics = result["metrics"]
    gap = metrics["augmentation_underdiagnosis_gap[real-60@sex]"]
    assert 0.0 <= gap["value"] <= 1.0 and set(gap["details"]["underdiagnosis_per_group"]) == {"female", "male"}
    change = metrics["augmentation_underdiagnosis_gap_change[real-60+synthetic-60@sex]"]
    paired = change["details"]["per_seed"]  # JSON: seeds as strings
    both = metrics["augmentation_underdiagnosis_gap[real-60+synthetic-60@sex]"]["details"]["per_seed"]
    assert paired and paired == pytest.approx({s_: both[s_] - gap["details"]["per_seed"][s_] for s_ in paired})
    view = metrics["augmentation_auroc[real-60]"]["subgroups"]["sex"]
    assert set(view["groups"]) == {"female", "male"} and view["worst"] in {"female", "male"}
    assert result["status"] == "complete"
