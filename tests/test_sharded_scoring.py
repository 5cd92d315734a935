"""Scoring under torchrun (issue 27): two real gloo processes give the one-process numbers, every image is
computed once by one rank, a rank that cannot read its share stops every rank naming the rank and the file
with nothing written, and the re-run reuses what was finished."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cxrgen_bench.distributed import share

METRICS = "fid[phantom-evaluator],kid[phantom-evaluator],prdc_precision[phantom-evaluator],prdc_coverage[phantom-evaluator]"


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, Path]:
    """31 generated images (one a byte-copy of another: a duplicate counts twice in the statistics) and 30
    reference images, 128² grayscale, with a prompts CSV."""
    root = tmp_path_factory.mktemp("sharded")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:128, 0:128]
    rows = ["prompt_id,text,Pleural Effusion,Cardiomegaly"]
    for side in ("gen", "ref"):
        (root / side).mkdir()
    for i in range(30):
        base = 120 + 60 * np.sin(xx / (9 + i % 7)) * np.cos(yy / (13 + i % 5))
        for side, noise in (("ref", 5), ("gen", 20)):
            Image.fromarray(np.clip(base + rng.normal(0, noise, base.shape), 0, 255).astype(np.uint8)).save(
                root / side / f"p{i}_0.png")
        rows.append(f"p{i},finding {i},{i % 2},{int(i < 15)}")
    shutil.copy(root / "gen" / "p0_0.png", root / "gen" / "p30_0.png")
    rows.append("p30,finding 30,0,1")
    (root / "prompts.csv").write_text("\n".join(rows) + "\n")
    return {"gen": root / "gen", "ref": root / "ref", "prompts": root / "prompts.csv", "root": root}


def _args(sets, cache: Path, out: Path) -> list[str]:
    return ["score", "--images", str(sets["gen"]), "--reference", str(sets["ref"]), "--prompts", str(sets["prompts"]),
            "--profile", "calibration-phantom", "--metrics", METRICS, "--cache-dir", str(cache), "--out", str(out),
            "--quiet"]


def _run(command: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env})


def test_share_splits_by_content_without_padding_or_duplicates():
    keys = [f"{i:064x}" for i in range(11)] + ["0" * 64]  # a repeated key is one image
    for size in (1, 2, 3, 5, 16):
        parts = [share(list(reversed(keys)), rank, size) for rank in range(size)]
        assert sorted(k for p in parts for k in p) == sorted(set(keys))  # each once, none padded
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
        assert parts == [share(keys, rank, size) for rank in range(size)]  # the order of the input is irrelevant


def test_two_gloo_processes_give_the_one_process_numbers(sets, tmp_path):
    one = _run([sys.executable, "-m", "cxrgen_bench", *_args(sets, tmp_path / "c1", tmp_path / "one.json")])
    assert one.returncode == 0, one.stderr
    two = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                "-m", "cxrgen_bench", *_args(sets, tmp_path / "c2", tmp_path / "two.json")])
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("one.json", "two.json"))
    assert a["run"]["world_size"] == 1 and b["run"]["world_size"] == 2
    assert set(a["metrics"]) == set(b["metrics"]) == set(METRICS.split(","))
    for key, m in a["metrics"].items():
        assert b["metrics"][key]["n"] == m["n"]
        assert b["metrics"][key]["value"] == pytest.approx(m["value"], rel=1e-6, abs=1e-9), key
    # each distinct image's row computed once: 30 distinct generated (one duplicate) + 30 reference
    import sqlite3

    (store,) = (tmp_path / "c2" / "features").rglob("rows.sqlite")
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT count(*) FROM rows").fetchone()[0] == 60
    # the merged statistics sit where one process looks: a one-process re-run on the same cache agrees
    again = _run([sys.executable, "-m", "cxrgen_bench", *_args(sets, tmp_path / "c2", tmp_path / "again.json")])
    assert again.returncode == 0, again.stderr
    c = json.loads((tmp_path / "again.json").read_text())
    assert {k: m["value"] for k, m in c["metrics"].items()} == {k: m["value"] for k, m in b["metrics"].items()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, port: int, sets: dict, cache: str, out: str, broken: str, queue, dies: bool = False) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), CXRGEN_DIST_TIMEOUT="120")
    import cxrgen_bench
    from cxrgen_bench.data import images
    from cxrgen_bench.errors import InputError
    from cxrgen_bench.evaluation import features

    read = images.read_image

    def flaky(path, *a, **k):  # the file turns unreadable after the folder was listed (a network share)
        if str(path) == broken:
            raise InputError(f"{path}: not a readable image (corrupt or truncated?)")
        return read(path, *a, **k)

    features.read_image = flaky
    if dies and rank == 1:  # killed mid-share (out of memory, a lost node): no goodbye
        features.compute = lambda *a, **k: os._exit(9)
    try:
        cxrgen_bench.score(images=sets["gen"], reference=sets["ref"], prompts=sets["prompts"], metrics=METRICS,
                           profile="calibration-phantom", cache_dir=cache, out=out)
        queue.put((rank, "no error"))
    except Exception as exc:  # noqa: BLE001 — the test reads what each rank raised
        queue.put((rank, f"{type(exc).__name__}: {exc}"))


def test_a_rank_that_cannot_read_its_share_stops_every_rank_naming_it(sets, tmp_path):
    import sqlite3

    from cxrgen_bench.data.manifest import ImageSet

    records = ImageSet.from_folder(sets["gen"]).records
    shas = sorted({r.sha256 for r in records})
    owned_by_1 = set(share(shas, 1, 2))
    broken = next(str(r.path) for r in records if r.sha256 in owned_by_1)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    out = tmp_path / "r.json"
    procs = [ctx.Process(target=_rank_main, args=(rank, port, {k: str(v) for k, v in sets.items()},
                                                  str(tmp_path / "cache"), str(out), broken, queue))
             for rank in range(2)]
    for p in procs:
        p.start()
    said = dict(queue.get(timeout=240) for _ in procs)
    for p in procs:
        p.join(60)
    for rank in (0, 1):
        assert said[rank].startswith("ShardFailed") and "rank 1: " in said[rank] and broken in said[rank], said
    assert not out.exists()  # nothing that looks complete
    # rank 0's share (and rank 1's rows before the broken image) are kept: the re-run reuses them
    with sqlite3.connect(next((tmp_path / "cache" / "features").rglob("rows.sqlite"))) as db:
        assert db.execute("SELECT count(*) FROM rows").fetchone()[0] >= len(share(shas, 0, 2))


def test_a_rank_that_dies_stops_rank_0_with_a_clear_error_and_nothing_written(sets, tmp_path):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    out = tmp_path / "r.json"
    procs = [ctx.Process(target=_rank_main, args=(rank, port, {k: str(v) for k, v in sets.items()},
                                                  str(tmp_path / "cache"), str(out), "", queue, True))
             for rank in range(2)]
    for p in procs:
        p.start()
    rank, said = queue.get(timeout=240)
    for p in procs:
        p.join(60)
    assert rank == 0 and said.startswith("ShardFailed") and "lost the other processes" in said, said
    assert "Nothing was written" in said and not out.exists()


def test_score_reports_under_torchrun_writes_one_result_from_rank_0(tmp_path):
    """Report scoring declares no image features: rank 0 scores, the other process says so and exits 0."""
    for name, words in (("hyp", "small left effusion"), ("ref", "small right effusion")):
        (tmp_path / f"{name}.csv").write_text("id,text\n" + "".join(f"r{i},{words} {i}\n" for i in range(6)))
    args = ["score-reports", "--hypotheses", str(tmp_path / "hyp.csv"), "--references", str(tmp_path / "ref.csv"),
            "--metrics", "rrg[bleu4+rouge_l]", "--out", str(tmp_path / "r.json"), "--cache-dir", str(tmp_path / "c")]
    two = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                "-m", "cxrgen_bench", *args])
    assert two.returncode == 0, two.stderr[-3000:]
    assert "rank 1] this process's share is done" in two.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["run"]["world_size"] == 2 and result["metrics"]["rrg[bleu4]"]["value"] > 0
