"""The generation harness and built-in generators, on CPU: a tiny Stable Diffusion pipeline built
from configs and saved as a user's checkpoint, plus fast callable generators."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cxrgen_bench
from cxrgen_bench.cli import main
from cxrgen_bench.data import ImageSet
from cxrgen_bench.errors import InputError, WeightsError
from cxrgen_bench.generation import GenerationSettings, Generator, sample_seed
from cxrgen_bench.generation.harness import OutputFolder, Shard

REPO = Path(__file__).resolve().parents[1]
pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    from cxrgen_bench.generation.tiny import save_pipeline

    return save_pipeline(tmp_path_factory.mktemp("ckpt") / "tiny-sd")


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.csv"
    path.write_text("prompt_id,text,Pleural Effusion,image_path\n"
                    "p1,Small left pleural effusion.,1,a.png\np2,No acute process.,0,b.png\n"
                    "p/3,Large right pneumothorax.,,c.png\np4,Mild cardiomegaly.,0,d.png\n")
    return path


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.png"))}


def test_seed_depends_on_prompt_and_sample_only():
    assert sample_seed(0, "p1", 0) == sample_seed(0, "p1", 0)
    assert len({sample_seed(0, "p1", 0), sample_seed(0, "p1", 1), sample_seed(0, "p2", 0), sample_seed(1, "p1", 0)}) == 4


def test_diffusers_checkpoint_same_images_for_any_batch_size(tiny_sd, prompts, tmp_path):
    kw = dict(generator="diffusers", model=str(tiny_sd), prompts=prompts, samples_per_prompt=2, steps=3,
              resolution=64, progress=False)
    one = cxrgen_bench.generate(out=tmp_path / "b1", batch_size=1, **kw)
    three = cxrgen_bench.generate(out=tmp_path / "b3", batch_size=3, vae_batch_size=2, **kw)
    assert one["generated"] == three["generated"] == 8
    # Same noise for every sample whatever the batch; the network's float kernels may round differently
    # with another batch shape, so pixels agree to one grey level (byte equality of the harness itself is
    # shown with the callable generator below).
    assert digests(tmp_path / "b1").keys() == digests(tmp_path / "b3").keys()
    for name in digests(tmp_path / "b1"):
        a = np.asarray(Image.open(tmp_path / "b1" / name), dtype=int)
        b = np.asarray(Image.open(tmp_path / "b3" / name), dtype=int)
        assert np.abs(a - b).max() <= 1 and (a != b).mean() < 1e-3
    info = json.loads((tmp_path / "b1" / "generation.json").read_text())
    assert info["generator"]["pipeline"] == "StableDiffusionPipeline"
    assert info["generator"]["scheduler"] == "PNDMScheduler" and info["settings"]["guidance_scale"] == 4.0
    image_set = ImageSet.from_folder(tmp_path / "b1")
    assert len(image_set.records) == 8 and image_set.prompts["p/3"] == "Large right pneumothorax."
    different_seed = cxrgen_bench.generate(out=tmp_path / "s1", batch_size=4, seed=1, **kw)
    assert different_seed["generated"] == 8 and digests(tmp_path / "s1") != digests(tmp_path / "b1")


def test_pickle_weights_and_checkpoint_code_are_refused(tiny_sd, prompts, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file

    unsafe = tmp_path / "unsafe"
    shutil.copytree(tiny_sd, unsafe)
    weights = unsafe / "unet" / "diffusion_pytorch_model.safetensors"
    torch.save(load_file(str(weights)), unsafe / "unet" / "diffusion_pytorch_model.bin")  # the pickle format
    weights.unlink()
    kw = dict(generator="diffusers", model=str(unsafe), prompts=prompts, samples_per_prompt=1, steps=2,
              resolution=64, progress=False)
    with pytest.raises(WeightsError, match=r"\.bin: pickle weights.*--allow-pickle"):
        cxrgen_bench.generate(out=tmp_path / "o1", **kw)
    assert cxrgen_bench.generate(out=tmp_path / "o2", allow_pickle=True, **kw)["generated"] == 4
    (unsafe / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"<!DOCTYPE html><html>rate limited</html>")
    with pytest.raises(WeightsError, match=r"\.bin: an HTML page \(a failed download\?\)"):  # said, not "pickle"
        cxrgen_bench.generate(out=tmp_path / "o4", allow_pickle=True, **kw)
    index = json.loads((tiny_sd / "model_index.json").read_text())
    index["unet"] = ["my_custom_module", "MyUNet"]
    custom = tmp_path / "custom"
    shutil.copytree(tiny_sd, custom)
    (custom / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(WeightsError, match="component 'unet' comes from library 'my_custom_module'"):
        cxrgen_bench.generate(out=tmp_path / "o3", **{**kw, "model": str(custom)})


def run_callable(prompts, out, **kw):
    return cxrgen_bench.generate(generator="callable", model="tests.gen_helpers:noise_image", prompts=prompts,
                                 out=out, progress=False, **{"samples_per_prompt": 3, **kw})


def test_resume_after_an_exception_gives_the_uninterrupted_files(prompts, tmp_path):
    from cxrgen_bench.data import PromptSet
    from cxrgen_bench.generation.harness import run_generation
    from cxrgen_bench.generators.callable import CallableGenerator

    reference = run_callable(prompts, tmp_path / "ref", batch_size=2)
    settings = GenerationSettings(samples_per_prompt=3, batch_size=2)
    gen = CallableGenerator("tests.gen_helpers:noise_image", settings)

    def crash(n):
        if n == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_generation(gen, PromptSet.from_csv(prompts), tmp_path / "crash", settings, Shard(), progress=False,
                       after_batch=crash)
    assert not (tmp_path / "crash" / "manifest.csv").exists()
    resumed = run_callable(prompts, tmp_path / "crash", batch_size=5)
    assert resumed["resumed"] == 6 and resumed["generated"] == 6
    assert digests(tmp_path / "crash") == digests(tmp_path / "ref")
    assert (tmp_path / "crash" / "manifest.csv").read_text() == (tmp_path / "ref" / "manifest.csv").read_text()
    assert reference["generated"] == 12


def test_sigkill_at_any_moment_then_rerun_gives_identical_files(prompts, tmp_path):
    cmd = [sys.executable, "-m", "cxrgen_bench", "generate", "--generator", "callable", "--model",
           "tests.gen_helpers:slow_noise_image", "--prompts", str(prompts), "--out", str(tmp_path / "killed"),
           "--samples-per-prompt", "4", "--batch-size", "1", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "CXRGEN_TEST_DELAY": "0.15"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = tmp_path / "killed" / ".journal"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (journal.is_dir() and any(
            len(p.read_text().splitlines()) >= 5 for p in journal.glob("*.csv"))):
        time.sleep(0.05)
    time.sleep(0.07)  # land somewhere inside a batch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = sum(len(p.read_text().splitlines()) for p in journal.glob("*.csv"))
    assert 5 <= done_before < 16
    env["CXRGEN_TEST_DELAY"] = "0"
    subprocess.run(cmd, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    # the slow helper draws 64² images, the reference 192²: compare against a 64² reference run
    ref64 = tmp_path / "ref64"
    ref_cmd = [str(ref64) if a == str(tmp_path / "killed") else "3" if a == "1" else a for a in cmd]
    subprocess.run(ref_cmd, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    assert digests(tmp_path / "killed") == digests(ref64)
    assert (tmp_path / "killed" / "manifest.csv").read_text() == (ref64 / "manifest.csv").read_text()
    assert not list((tmp_path / "killed").glob(".*.tmp"))


def test_damaged_files_are_regenerated(prompts, tmp_path):
    out = tmp_path / "o"
    run_callable(prompts, out)
    before = digests(out)
    (out / "p1_1.png").write_bytes((out / "p1_1.png").read_bytes()[:100])  # truncated by a crash or a disk error
    again = run_callable(prompts, out)
    assert again["generated"] == 1 and digests(out) == before


def test_lock_and_settings_guard(prompts, tmp_path):
    out = tmp_path / "o"
    run_callable(prompts, out)
    holder = OutputFolder(out, Shard())
    holder.lock()
    try:
        with pytest.raises(InputError, match="another generation run is writing"):
            run_callable(prompts, out)
    finally:
        holder.unlock()
    with pytest.raises(InputError, match="other settings.*settings"):
        run_callable(prompts, out, seed=7)


def test_two_processes_gloo_shard_by_prompt_and_match_one_process(prompts, tmp_path):
    single = tmp_path / "single"
    run_callable(prompts, single, batch_size=2)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
           "-m", "cxrgen_bench", "generate", "--generator", "callable", "--model", "tests.gen_helpers:noise_image",
           "--prompts", str(prompts), "--out", str(tmp_path / "two"), "--samples-per-prompt", "3",
           "--batch-size", "2", "--device", "cpu", "--quiet", "--json"]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    journals = sorted(p.name for p in (tmp_path / "two" / ".journal").glob("*.csv"))
    assert journals == ["rank0-of2.csv", "rank1-of2.csv"]
    per_rank = [len((tmp_path / "two" / ".journal" / j).read_text().splitlines()) for j in journals]
    assert per_rank == [6, 6]  # 4 prompts by index: ranks own 2 prompts × 3 samples each
    assert digests(tmp_path / "two") == digests(single)
    assert (tmp_path / "two" / "manifest.csv").read_text() == (single / "manifest.csv").read_text()


def test_folder_and_real_generators(prompts, tmp_path):
    src = tmp_path / "src"
    run_callable(prompts, src, samples_per_prompt=2)
    copied = cxrgen_bench.generate(generator="folder", model=str(src), prompts=prompts, out=tmp_path / "copy",
                                   samples_per_prompt=2, progress=False)
    assert copied["generated"] == 8
    for name in digests(src):
        assert np.array_equal(np.asarray(Image.open(src / name)), np.asarray(Image.open(tmp_path / "copy" / name)))
    with pytest.raises(InputError, match="no image for prompt '.+' sample 2"):
        cxrgen_bench.generate(generator="folder", model=str(src), prompts=prompts, out=tmp_path / "c2",
                              samples_per_prompt=3, progress=False)
    root = tmp_path / "dataset"
    root.mkdir()
    for i, name in enumerate("abcd"):
        Image.fromarray(np.full((32, 32), 40 * i, np.uint8)).save(root / f"{name}.png")
    real = cxrgen_bench.generate(generator="real", model=str(root), prompts=prompts, out=tmp_path / "real",
                                 samples_per_prompt=1, progress=False)
    assert real["generated"] == 4
    assert np.asarray(Image.open(tmp_path / "real" / "p2_0.png")).max() == 40
    with pytest.raises(InputError, match="one image per prompt"):
        cxrgen_bench.generate(generator="real", model=str(root), prompts=prompts, out=tmp_path / "r2",
                              samples_per_prompt=4, progress=False)


def test_third_party_generator_from_the_docs(monkeypatch, prompts, tmp_path):
    """The protocol docstring's example, registered through an entry point."""
    from importlib.metadata import EntryPoint

    from cxrgen_bench import registry

    class MyGenerator(Generator):
        name = "my-generator"

        def generate(self, requests):
            return [np.full((16, 16), r.sample_idx * 50, np.uint8) for r in requests]

    sys.modules["my_test_plugin"] = type(sys)("my_test_plugin")
    sys.modules["my_test_plugin"].MyGenerator = MyGenerator
    eps = [EntryPoint(name="my-generator", value="my_test_plugin:MyGenerator", group="cxrgen_bench.generators")]
    monkeypatch.setattr(registry, "entry_points", lambda group: [e for e in eps if e.group == group])
    monkeypatch.setattr(registry.GENERATORS, "_entry_points_loaded", False)
    monkeypatch.setattr(registry.GENERATORS, "_targets", dict(registry.GENERATORS._targets))
    monkeypatch.setattr(registry.GENERATORS, "_sources", dict(registry.GENERATORS._sources))
    summary = cxrgen_bench.generate(generator="my-generator", prompts=prompts, out=tmp_path / "o",
                                    samples_per_prompt=2, progress=False)
    assert summary["generated"] == 8
    assert np.asarray(Image.open(tmp_path / "o" / "p1_1.png")).max() == 50


def test_generate_then_score_in_one_command(prompts, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["score", "--generator", "callable", "--model", "tests.gen_helpers:noise_image", "--prompts",
               str(prompts), "--images", str(tmp_path / "gen"), "--samples-per-prompt", "4", "--metrics", "ms_ssim",
               "--out", str(out), "--quiet"])
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["metrics"]["ms_ssim"]["n"]["effective"] == 4 and 0 < result["metrics"]["ms_ssim"]["value"] < 1
    assert result["subject"]["layout"] == "manifest"


def test_progress_reports_rate_and_eta(prompts, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("cxrgen_bench.progress.MIN_REPORT_S", 0.0)  # the stage is shorter than a log line's worth
    cxrgen_bench.generate(generator="callable", model="tests.gen_helpers:noise_image", prompts=prompts,
                          out=tmp_path / "o", samples_per_prompt=1, progress=True)
    err = capsys.readouterr().err
    assert "images/s" in err and "4/4 images" in err and "done in" in err  # the closing line of a log
