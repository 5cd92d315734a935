"""Thread counts are chosen once per computing command: asked for, or the cores other processes leave."""
import subprocess
import sys

import pytest
import torch

from cxrgen_bench import threads
from cxrgen_bench.errors import InputError


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_asked_for_threads_are_set_and_recorded(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    assert threads.choose(1) == {"threads": 1, "reason": f"asked for (--threads or {threads.ENV})"}
    assert torch.get_num_threads() == 1 and threads.chosen()["threads"] == 1
    monkeypatch.setenv(threads.ENV, "2")
    assert threads.choose()["threads"] == 2 and torch.get_num_threads() == 2
    monkeypatch.setenv(threads.ENV, "many")
    with pytest.raises(InputError, match="CXRGEN_THREADS='many'"):
        threads.choose()
    with pytest.raises(InputError, match="at least 1"):
        threads.choose(0)


def test_default_leaves_the_cores_other_processes_keep_busy(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: 1)
    assert threads.choose() == {"threads": 3, "reason": "4 core(s) available, 1 busy with other processes"}
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: 9)
    assert threads.choose()["threads"] == 1  # never fewer than one


def test_busy_count_sees_a_busy_neighbour():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.5)
        assert threads.busy_elsewhere(samples=7, interval=0.02) >= 1
    finally:
        spinner.kill()


def test_cli_refuses_zero_threads_without_a_traceback(tmp_path):
    run = subprocess.run([sys.executable, "-m", "cxrgen_bench", "demo", "--threads", "0", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "--threads" in run.stderr and "Traceback" not in run.stderr


def test_results_record_the_thread_choice(tmp_path):
    from tests.gen_helpers import noise_image  # noqa: F401  (the callable generator's module must import)
    import cxrgen_bench

    threads.choose(1)
    prompts = tmp_path / "p.csv"
    prompts.write_text("prompt_id,text\np0,Left effusion.\np1,Normal.\n")
    cxrgen_bench.generate(generator="callable", model="tests.gen_helpers:noise_image", prompts=prompts,
                          out=tmp_path / "gen", samples_per_prompt=2, resolution=64, progress=False)
    result = cxrgen_bench.score(images=tmp_path / "gen", metrics="ms_ssim", cache_dir=tmp_path / "c")
    assert result["run"]["threads"] == {"threads": 1, "reason": f"asked for (--threads or {threads.ENV})"}
