"""`cxrgen-bench sweep` on a tiny trainer run (two checkpoints) under the calibration-phantom profile: one
results file per checkpoint in a leaderboard store, the board's curves over training steps, the gate
between the last and the best checkpoint; killed after a unit and again mid-unit, the re-run gives the
numbers of an uninterrupted sweep."""
import json
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

from cxrgen_bench.cli import main  # noqa: E402
from cxrgen_bench.studies import sweep as sweep_module  # noqa: E402

# 32 px images (the tiny VAE halves the side: 16² latents), one denoising step without guidance: seconds
# per checkpoint on 2 cores. MS-SSIM needs more than 160 px, so it reads them enlarged (recorded).
SMALL = ["--resolution", "32", "--steps", "1", "--guidance-scale", "1", "--samples-per-prompt", "2",
         "--profile", "calibration-phantom", "--set", "ms_ssim.resize=192", "--set", "chexpert_at_k.k=2",
         "--set", "classifier_auroc.filter_threshold=0", "--extraction", "mean", "--bootstrap", "20", "--quiet"]
METRICS = "fid[phantom-evaluator],ms_ssim,classifier_auroc,chexpert_at_k"


class Killed(Exception):
    """Stands for the process being killed at the point it is raised."""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A reference-trainer run with checkpoints at steps 1 and 2 (text encoder trained too), its data."""
    from cxrgen_bench.calibration.dataset import PhantomDataset
    from cxrgen_bench.generation.tiny import save_pipeline
    from cxrgen_bench.generators.roentgen.train import TrainConfig, train

    root = tmp_path_factory.mktemp("sweep")
    base = save_pipeline(root / "tiny-sd")
    PhantomDataset().write(root / "data", n=8, seed=0)
    train(TrainConfig(base=str(base), prompts=str(root / "data" / "prompts.csv"), images_root=str(root / "data"),
                      out=str(root / "run"), resolution=32, batch_size=4, max_steps=2, checkpoint_every=1,
                      keep_checkpoints=0, lr=1e-2, device="cpu", seed=0, train_text_encoder=True),
          log=lambda msg: None)
    return root


def sweep_args(root: Path, out: Path, *extra: str) -> list[str]:
    return ["sweep", "--run", str(root / "run"), "--prompts", str(root / "data" / "prompts.csv"), "--reference",
            str(root / "data" / "images"), "--metrics", METRICS, "--cache-dir", str(root / "cache"), "--out", str(out),
            *SMALL, *extra]


@pytest.fixture(scope="module")
def straight(trained):
    """An uninterrupted sweep."""
    out = trained / "straight"
    assert main(sweep_args(trained, out)) in (0, 1)  # 1: the last checkpoint is worse than the best somewhere
    return out


def entries(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "entries").glob("*.json"))}


def numbers(out: Path) -> dict[str, dict]:
    return {name: {k: (m["value"], m.get("ci95"), m.get("std")) for k, m in e["metrics"].items()}
            for name, e in entries(out).items()}


def test_one_results_file_per_checkpoint_a_board_of_curves_and_the_gate(straight):
    found = entries(straight)
    assert list(found) == ["step-0000001", "step-0000002"]
    for name, result in found.items():
        step = int(name.split("-")[1])
        assert result["subject"]["step"] == step and result["subject"]["run"].endswith("checkpoints")
        assert result["model"]["name"] == f"run @ step {step}"
        assert result["model"]["text_encoder"]["step"] == step  # CheXpert@k of that checkpoint's text encoder
        assert {"fid[phantom-evaluator]", "ms_ssim", "classifier_auroc", "chexpert_at_k"} <= set(result["metrics"])
        assert result["metrics"]["fid[phantom-evaluator]"]["ci95"] is not None
        assert len(list((straight / "units" / name / "images").glob("*.png"))) == 16  # kept per checkpoint
        assert not (straight / "units" / name / "pipeline").exists()  # the rebuilt pipeline is dropped when done
    steps = [r["subject"]["step"] for r in found.values()]
    assert found["step-0000001"]["subject"]["content_sha256"] != found["step-0000002"]["subject"]["content_sha256"]
    board = (straight / "README.md").read_text()
    assert "## Over training steps: run" in board and "| step | FID phantom ↓" in board
    assert "plots/fid-phantom-evaluator_over_training.svg" in board
    assert "FillBetween" in (straight / "plots" / "fid-phantom-evaluator_over_training.svg").read_text()  # CI band
    assert "plots/chexpert_at_k_over_training.svg" in board  # Table 6's curve, as before
    gate = json.loads((straight / "gate.json").read_text())
    fids = {n: r["metrics"]["fid[phantom-evaluator]"]["value"] for n, r in found.items()}
    assert gate["best_by"] == "fid[phantom-evaluator]" and gate["baseline"] == min(fids, key=fids.get)
    assert gate["candidate"] == "step-0000002" and {r["key"] for r in gate["rows"]} >= {"ms_ssim", "chexpert_at_k"}
    summary = json.loads((straight / "results.json").read_text())
    curve = summary["metrics"]["fid[phantom-evaluator]"]["details"]["sweep"]["curve"]
    assert [p["step"] for p in curve] == steps and [p["value"] for p in curve] == list(fids.values())


def test_killed_after_a_unit_and_mid_unit_it_resumes_to_the_same_numbers(trained, straight, monkeypatch):
    out = trained / "interrupted"
    done = sweep_module.SweepStudy.unit_done

    def killed_after_first_unit(self, unit, folder):
        done(self, unit, folder)
        raise Killed(unit.id)

    monkeypatch.setattr(sweep_module.SweepStudy, "unit_done", killed_after_first_unit)
    with pytest.raises(Killed):
        main(sweep_args(trained, out))
    monkeypatch.undo()
    assert (out / "units" / "step-0000001.json").is_file() and not (out / "units" / "step-0000002.json").exists()

    def killed_while_scoring(*args, **kwargs):  # the second checkpoint's images are written, not scored
        raise Killed("scoring")

    monkeypatch.setattr(sweep_module, "evaluate", killed_while_scoring)
    with pytest.raises(Killed):
        main(sweep_args(trained, out))
    monkeypatch.undo()
    assert (out / "units" / "step-0000002" / "images" / "manifest.csv").is_file()
    assert not (out / "units" / "step-0000002.json").exists()
    assert main(sweep_args(trained, out)) in (0, 1)
    assert numbers(out) == numbers(straight)
    for name in ("step-0000001", "step-0000002"):
        assert (out / "units" / name / "images" / "manifest.csv").read_bytes() == \
            (straight / "units" / name / "images" / "manifest.csv").read_bytes()


def test_ranks_share_the_checkpoints_and_give_the_same_numbers(trained, straight, monkeypatch, capsys):
    """RANK/WORLD_SIZE as torchrun sets them: each process takes whole checkpoints (no rendezvous needed).
    Rank 1 runs first here, so rank 0 finds its unit done and writes the store, the board and the gate (run
    side by side, rank 0 waits for it; a concurrent run of two processes took 27 s on 2 cores)."""
    out = trained / "ranks"
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert main(sweep_args(trained, out)) == 0
    assert sorted(p.name for p in (out / "units").glob("*.json")) == ["step-0000002.json"]  # rank 1's share
    assert not (out / "entries").exists()  # rank 0 publishes
    monkeypatch.setenv("RANK", "0")
    assert main(sweep_args(trained, out)) in (0, 1)
    assert numbers(out) == numbers(straight)


def test_listed_pipelines_are_units_in_the_order_given(trained, tmp_path):
    from cxrgen_bench.generation.tiny import save_pipeline

    first, second = save_pipeline(tmp_path / "checkpoint-500", seed=1), save_pipeline(tmp_path / "final", seed=2)
    out = tmp_path / "sweep"
    args = ["sweep", "--pipelines", str(second), str(first), "--prompts", str(trained / "data" / "prompts.csv"),
            "--reference", str(trained / "data" / "images"), "--metrics", "fid[phantom-evaluator]", "--out", str(out),
            "--cache-dir", str(trained / "cache"), *SMALL[:8], "--profile", "calibration-phantom", "--quiet"]
    assert main(args) in (0, 1)
    found = entries(out)
    assert set(found) == {"final", "checkpoint-500"}
    assert found["checkpoint-500"]["subject"]["step"] == 500 and "step" not in found["final"]["subject"]
    assert json.loads((out / "gate.json").read_text())["candidate"] == "checkpoint-500"  # the last listed


def test_a_checkpoint_changed_since_it_was_swept_is_refused(trained, straight, tmp_path, capsys):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(straight, out)
    record = out / "units" / "step-0000001.json"
    data = json.loads(record.read_text())
    data["settings"]["source_sha256"] = "0" * 64
    record.write_text(json.dumps(data))
    assert main(sweep_args(trained, out)) == 2
    assert "step-0000001.json was made from another" in capsys.readouterr().err


def test_flags_are_checked_before_any_work(trained, tmp_path, capsys):
    with pytest.raises(SystemExit):  # one thing at a time
        main(["sweep", "--run", "a", "--pipelines", "b", "--prompts", "p", "--reference", "r", "--out", "o"])
    empty = tmp_path / "empty-run"
    empty.mkdir()
    assert main(["sweep", "--run", str(empty), "--prompts", str(trained / "data" / "prompts.csv"), "--reference",
                 str(trained / "data" / "images"), "--out", str(tmp_path / "o"), "--profile",
                 "calibration-phantom", "--metrics", "fid[phantom-evaluator]", "--quiet"]) == 2
    assert "no trainer checkpoints" in capsys.readouterr().err
