"""Hardening (issue 18): a corpus of bad inputs, each through the command line as a user would give it.

Every case asserts the exit code (2 unusable input, nothing written; 1 results kept elsewhere or a
gate failure), that no Python traceback is printed, that the message names the culprit (file, key,
value or flag), and that no complete-looking results file was left behind. Cases that should stop
before any work also assert that nothing was computed. docs/reliability.md lists the classes.
"""
from __future__ import annotations

import errno
import json
import os
import re
import sqlite3
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from cxrgen_bench.cli import main
from cxrgen_bench.errors import ResultsError
from cxrgen_bench.leaderboard.exports import csv_text
from cxrgen_bench.leaderboard.render import build, tables_for
from cxrgen_bench.leaderboard.store import Store
from cxrgen_bench.results import read_result

from .conftest import write_gray
from .results_factory import measured

REPO = Path(__file__).resolve().parents[1]
TRACEBACK = "Traceback (most recent call last)"
FID = "fid[xrv-densenet121]"
BRIGHTNESS = {"cxrgen_bench.metrics": {"mean_brightness": "tests.plugins.brightness:MeanBrightness"}}


# --- what the cases are built from ------------------------------------------------------------------

def results_file(folder: Path, name: str = "cand.json", **change) -> Path:
    """A results file (schema v1, as results_factory makes it) with metric fields changed:
    change={"fid[xrv-densenet121]": {"value": nan}}; `status=` changes the top level."""
    result = measured()
    for key, fields in change.items():
        if key == "status":
            result["status"] = fields
        else:
            result["metrics"][key].update(fields)
    path = folder / name
    path.write_text(json.dumps(result))  # NaN and Infinity as JavaScript literals, which json.loads accepts
    return path


def image_folder(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    for i in range(3):
        for k in range(2):
            write_gray(folder / "gen" / f"p{i}_{k}.png", rng.normal(128, 30, (32, 32)))
    return folder / "gen"


def score(work: Path, *flags: str) -> list[str]:
    return ["score", "--images", str(image_folder(work)), "--quiet", "--no-cache", *flags]


@dataclass
class Case:
    """argv(work, monkeypatch) builds the inputs under `work` and returns the arguments; `names` are
    formatted with {work} (and {tmp}, its parent) and must all appear in the output."""
    id: str
    argv: Callable[[Path, pytest.MonkeyPatch], list[str]]
    code: int
    names: tuple[str, ...]
    computes: bool = False  # False: refused before any metric ran


def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def read_only(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:  # root writes through permission bits: let the folder look as it does to a user
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == folder and mode & os.W_OK
                            else real(p, mode, **kw))
    return folder


def disk_full(target: Path, monkeypatch: pytest.MonkeyPatch, fallback_too: bool = False) -> None:
    """Writing `target` fails with ENOSPC (after the metrics ran); the temporary folder works unless
    `fallback_too`."""
    from cxrgen_bench.results import store

    real = store.atomic_write_text

    def write(path, text):
        if Path(path) == target:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, text)

    monkeypatch.setattr(store, "atomic_write_text", write)
    fallback = target.parent.parent / "fallback"
    fallback.mkdir(exist_ok=True)
    if fallback_too:
        def no_temp(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(store.tempfile, "mkstemp", no_temp)
    else:
        monkeypatch.setattr(store.tempfile, "tempdir", str(fallback))


def gate(work: Path, candidate: Path, rules: str | None = None, rules_file: Path | None = None) -> list[str]:
    baseline = results_file(work, "base.json")
    argv = ["gate", "--baseline", str(baseline), "--candidate", str(candidate)]
    if rules is not None:
        rules_file = work / "rules.yaml"
        rules_file.write_text(rules)
    return argv + (["--rules", str(rules_file)] if rules_file else [])


def bad_entry_in_store(work: Path) -> list[str]:
    (work / "lb" / "entries").mkdir(parents=True)
    results_file(work / "lb" / "entries", "broken.json", **{FID: {"value": float("inf")}})
    return ["leaderboard", "build", "--root", str(work / "lb")]


def prompts_csv(work: Path, *ids: str, bom: bool = False) -> Path:
    path = work / "prompts.csv"
    text = "prompt_id,text\n" + "".join(f"{pid},finding {i}\n" for i, pid in enumerate(ids))
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def gen_with(work: Path, change: Callable[[Path], object]) -> list[str]:
    """`score` of the usual generated folder (p0..p2, samples 0 and 1) after `change(folder)`."""
    folder = image_folder(work)
    change(folder)
    return ["score", "--images", str(folder), "--quiet", "--no-cache", "--metrics", "mean_brightness"]


def manifest(folder: Path, *rows: str, header: str = "prompt_id,sample_idx,path") -> None:
    (folder / "manifest.csv").write_text("\n".join([header, *rows]) + "\n")


def link(path: Path, target: str) -> None:
    path.symlink_to(target)


def swapped(folder: Path) -> None:
    """A manifest with the harness's sha256 column, then p0_0.png replaced by another image."""
    from cxrgen_bench.data.images import sha256_file

    manifest(folder, *(f"p{i},{k},p{i}_{k}.png,{sha256_file(folder / f'p{i}_{k}.png')}" for i in range(3)
                       for k in range(2)), header="prompt_id,sample_idx,path,sha256")
    (folder / "p0_0.png").write_bytes((folder / "p1_1.png").read_bytes())


def ref_folder(work: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        write_gray(work / "ref" / name, np.full((32, 32), 100.0))
    return work / "ref"


def random_weights(work: Path) -> list[str]:
    (work / "xrv.bin").write_bytes(bytes(range(7, 250)) * 40)
    return ["weights", "convert", "xrv-densenet121", str(work / "xrv.bin"), "--out", str(work / "x.safetensors")]


NAN, INF = float("nan"), float("inf")
CASES = [
    # A. sound numbers, refused by every reader: gate, compare, leaderboard add and build
    Case("gate-nan-value", lambda w, m: gate(w, results_file(w, **{FID: {"value": NAN}})), 2,
         ("{work}/cand.json", FID, "nan")),
    Case("gate-inf-value", lambda w, m: gate(w, results_file(w, **{FID: {"value": INF}})), 2,
         ("{work}/cand.json", FID, "inf")),
    Case("gate-minus-inf-value", lambda w, m: gate(w, results_file(w, **{"ms_ssim": {"value": -INF}})), 2,
         ("{work}/cand.json", "ms_ssim", "-inf")),
    Case("gate-msssim-above-range", lambda w, m: gate(w, results_file(w, ms_ssim={"value": 1.7})), 2,
         ("{work}/cand.json", "ms_ssim", "1.7", "[0.0, 1.0]")),
    Case("gate-auroc-below-range", lambda w, m: gate(w, results_file(w, classifier_auroc={"value": -0.2})), 2,
         ("{work}/cand.json", "classifier_auroc", "-0.2")),
    Case("gate-negative-fid", lambda w, m: gate(w, results_file(w, **{FID: {"value": -3.0}})), 2,
         ("{work}/cand.json", FID, "-3.0")),
    Case("gate-nan-std", lambda w, m: gate(w, results_file(w, ms_ssim={"std": NAN})), 2,
         ("{work}/cand.json", "ms_ssim", "std nan")),
    Case("gate-inf-ci", lambda w, m: gate(w, results_file(w, **{FID: {"ci95": [1.0, INF]}})), 2,
         ("{work}/cand.json", FID, "ci95[1] inf")),
    Case("gate-complete-with-error", lambda w, m: gate(w, results_file(w, ms_ssim={"error": "boom"})), 2,
         ("{work}/cand.json", "ms_ssim", "complete", "boom")),
    Case("compare-nan-value", lambda w, m: ["compare", str(results_file(w, "a.json")),
                                            str(results_file(w, **{FID: {"value": NAN}}))], 2,
         ("{work}/cand.json", FID, "nan")),
    Case("compare-inf-replicate", lambda w, m: ["compare", str(results_file(w, "a.json")), str(results_file(
        w, ms_ssim={"bootstrap": {**measured()["metrics"]["ms_ssim"]["bootstrap"], "replicates": [0.3, INF]}}))], 2,
         ("{work}/cand.json", "ms_ssim", "replicate 1 inf")),
    Case("compare-complete-with-error", lambda w, m: ["compare", str(results_file(w, "a.json")),
                                                      str(results_file(w, classifier_auroc={"error": "no labels"}))],
         2, ("{work}/cand.json", "classifier_auroc", "complete")),
    Case("leaderboard-add-nan", lambda w, m: ["leaderboard", "add", "--root", str(w / "lb"),
                                              str(results_file(w, **{FID: {"value": NAN}}))], 2,
         ("{work}/cand.json", FID, "nan")),
    Case("leaderboard-add-out-of-range", lambda w, m: ["leaderboard", "add", "--root", str(w / "lb"),
                                                       str(results_file(w, classifier_auroc={"value": 1.5}))], 2,
         ("{work}/cand.json", "classifier_auroc", "1.5")),
    Case("leaderboard-build-inf-entry", lambda w, m: bad_entry_in_store(w), 2,
         ("{work}/lb/entries/broken.json", FID, "inf")),
    # A. gate rules and missing metrics
    Case("gate-scalar-rule", lambda w, m: gate(w, results_file(w), f'metrics:\n  "{FID}": 5\n'), 2,
         ("{work}/rules.yaml", f"rule '{FID}' is 5", "absolute")),
    Case("gate-scalar-default", lambda w, m: gate(w, results_file(w), "default: 0.05\n"), 2,
         ("{work}/rules.yaml", "default", "0.05")),
    Case("gate-rules-list", lambda w, m: gate(w, results_file(w), "- ms_ssim\n"), 2, ("{work}/rules.yaml", "ms_ssim")),
    Case("gate-metrics-list", lambda w, m: gate(w, results_file(w), "metrics: [ms_ssim]\n"), 2,
         ("{work}/rules.yaml", "metrics", "ms_ssim")),
    Case("gate-text-tolerance", lambda w, m: gate(w, results_file(w), "metrics: {ms_ssim: {absolute: big}}\n"), 2,
         ("{work}/rules.yaml", "ms_ssim", "absolute", "big")),
    Case("gate-negative-tolerance", lambda w, m: gate(w, results_file(w), "default: {relative: -0.1}\n"), 2,
         ("{work}/rules.yaml", "default", "relative", "-0.1")),
    Case("gate-missing-metrics-named", lambda w, m: gate(w, results_file(w), rules_file=REPO / "leaderboard" /
                                                         "gates.yaml"), 1,
         ("fid[clip-vit-b-32]", "rule 'fid[clip-vit-b-32]'", "gates.yaml", "baseline and candidate", "--rules")),
    # B. a folder where a file belongs
    Case("gate-candidate-folder", lambda w, m: gate(w, w), 2, ("{work}", "folder")),
    Case("gate-rules-folder", lambda w, m: gate(w, results_file(w), rules_file=w), 2, ("{work}", "folder")),
    Case("leaderboard-add-folder", lambda w, m: ["leaderboard", "add", "--root", str(w / "lb"), str(w)], 2,
         ("{work}", "folder")),
    Case("compare-folder", lambda w, m: ["compare", str(w), str(results_file(w))], 2, ("{work}", "folder")),
    # B. flags refused before any work
    Case("batch-size-zero", lambda w, m: score(w, "--batch-size", "0"), 2, ("--batch-size", "0")),
    Case("batch-size-negative", lambda w, m: score(w, "--batch-size", "-4"), 2, ("--batch-size", "-4")),
    Case("workers-zero", lambda w, m: score(w, "--workers", "0"), 2, ("--workers", "0")),
    Case("bootstrap-negative", lambda w, m: score(w, "--bootstrap", "-5"), 2, ("--bootstrap", "-5")),
    Case("bootstrap-not-a-number", lambda w, m: score(w, "--bootstrap", "many"), 2, ("--bootstrap", "many")),
    Case("ms-ssim-unknown-option", lambda w, m: score(w, "--metrics", "ms_ssim[foo]"), 2,
         ("ms_ssim[foo]", "no options")),
    Case("fid-unknown-backbone", lambda w, m: score(w, "--metrics", "fid[typo]"), 2,
         ("fid[typo]", "typo", "inception-v3-fid")),
    Case("fid-one-of-two-unknown", lambda w, m: score(w, "--metrics", "fid[inception-v3-fid+xrv-densnet121]"), 2,
         ("xrv-densnet121",)),
    Case("rrg-unknown-scorer", lambda w, m: score(w, "--metrics", "rrg[bleu5]"), 2, ("rrg[bleu5]", "bleu4")),
    Case("device-cuda-without-gpu", lambda w, m: (no_gpu(m), score(w, "--device", "cuda"))[1], 2,
         ("--device cuda", "no CUDA GPU")),
    Case("device-second-gpu-without-gpu", lambda w, m: (no_gpu(m), score(w, "--device", "cuda:1"))[1], 2,
         ("--device cuda:1",)),
    Case("device-not-a-device", lambda w, m: score(w, "--device", "gpu0"), 2, ("--device 'gpu0'",)),
    Case("out-is-a-folder", lambda w, m: score(w, "--metrics", "ms_ssim", "--out", str(w)), 2,
         ("--out {work}", "folder")),
    Case("out-in-read-only-folder", lambda w, m: score(w, "--out", str(read_only(w / "ro", m) / "r.json")), 2,
         ("{work}/ro", "read-only")),
    Case("out-under-a-file", lambda w, m: score(w, "--out", str(results_file(w) / "r.json")), 2,
         ("{work}/cand.json", "not a folder")),
    Case("generate-batch-size-zero", lambda w, m: ["generate", "--generator", "folder", "--prompts", "p.csv",
                                                   "--out", str(w / "g"), "--batch-size", "0"], 2, ("--batch-size",)),
    Case("generate-steps-negative", lambda w, m: ["generate", "--generator", "folder", "--prompts", "p.csv",
                                                  "--out", str(w / "g"), "--steps", "-1"], 2, ("--steps", "-1")),
    Case("generate-device-cuda-without-gpu", lambda w, m: (no_gpu(m), [
        "generate", "--generator", "folder", "--prompts", "p.csv", "--out", str(w / "g"), "--device", "cuda"])[1], 2,
         ("--device cuda",)),
    Case("score-reports-bootstrap-negative", lambda w, m: ["score-reports", "--hypotheses", "h.csv", "--references",
                                                           "r.csv", "--bootstrap", "-1"], 2, ("--bootstrap", "-1")),
    Case("score-reports-unknown-scorer", lambda w, m: ["score-reports", "--hypotheses", "h.csv", "--references",
                                                       "r.csv", "--metrics", "rrg[bleu]"], 2, ("rrg[bleu]",)),
    # C. no silent wrong number: images, layout, manifest and prompts must agree, or the run names the mismatch
    Case("image-prompt-not-in-prompts", lambda w, m: score(w, "--metrics", "mean_brightness", "--prompts",
                                                           str(prompts_csv(w, "p0", "p1"))), 2,
         ("{work}/gen", "{work}/prompts.csv", "1 prompt id(s) of images are not in the prompts CSV: 'p2'", "--subset")),
    Case("prompt-without-images", lambda w, m: score(w, "--metrics", "mean_brightness", "--prompts",
                                                     str(prompts_csv(w, "p0", "p1", "p2", "p3"))), 2,
         ("{work}/prompts.csv", "1 prompt(s) have no generated image: 'p3'", "--subset")),
    Case("one-sample-deleted", lambda w, m: gen_with(w, lambda g: (g / "p0_0.png").unlink()), 2,
         ("{work}/gen", "'p0' lacks [0]", "--layout one-per-file")),
    Case("stray-file-among-samples", lambda w, m: gen_with(w, lambda g: write_gray(g / "notes.png", np.ones((32, 32)))),
         2, ("{work}/gen", "'notes.png'", "not named so")),
    Case("same-sample-twice", lambda w, m: gen_with(w, lambda g: write_gray(g / "sub" / "p1_1.png", np.ones((32, 32)))),
         2, ("p1_1.png", "sub/p1_1.png", "prompt 'p1' sample 1")),
    Case("dangling-symlink", lambda w, m: gen_with(w, lambda g: link(g / "p3_0.png", str(w / "gone.png"))), 2,
         ("{work}/gen/p3_0.png", "leads nowhere", "{work}/gone.png")),
    Case("looping-symlink", lambda w, m: gen_with(w, lambda g: link(g / "p3_0.png", "p3_0.png")), 2,
         ("{work}/gen/p3_0.png", "loops")),
    Case("manifest-path-outside-folder", lambda w, m: gen_with(w, lambda g: (
        ref_folder(w, ("p0.png",)), manifest(g, "p0,0,p0_0.png", "p0,1,../ref/p0.png"))), 2,
         ("{work}/gen/manifest.csv, row 3", "'../ref/p0.png'", "outside", "--allow-outside-paths")),
    Case("manifest-absolute-path", lambda w, m: gen_with(w, lambda g: manifest(g, f"p0,0,{g / 'p0_0.png'}")), 2,
         ("{work}/gen/manifest.csv, row 2", "{work}/gen/p0_0.png", "outside")),
    Case("manifest-sha256-mismatch", lambda w, m: gen_with(w, swapped), 2,
         ("{work}/gen/manifest.csv, row 2", "{work}/gen/p0_0.png", "the manifest says")),
    Case("manifest-sha256-not-a-hash", lambda w, m: gen_with(w, lambda g: manifest(
        g, "p0,0,p0_0.png,abc", header="prompt_id,sample_idx,path,sha256")), 2,
         ("{work}/gen/manifest.csv, row 2", "'abc'", "64 hexadecimal")),
    Case("layout-manifest-without-one", lambda w, m: score(w, "--metrics", "mean_brightness", "--layout", "manifest"),
         2, ("{work}/gen/manifest.csv", "not found")),
    Case("layout-roentgen-of-other-names", lambda w, m: ["score", "--images", str(ref_folder(w, ("a.png", "b_1.png"))),
                                                         "--quiet", "--metrics", "mean_brightness", "--layout",
                                                         "roentgen"], 2,
         ("{work}/ref", "--layout roentgen", "'a.png'")),
    Case("layout-unknown", lambda w, m: score(w, "--layout", "nested"), 2, ("--layout", "nested")),
    Case("reference-with-a-gap", lambda w, m: score(w, "--metrics", "mean_brightness", "--reference",
                                                    str(ref_folder(w, ("r0_0.png", "r1_0.png", "r1_2.png")))), 2,
         ("{work}/ref", "'r1' lacks [1]", "--reference-layout")),
    Case("subset-without-prompts", lambda w, m: score(w, "--metrics", "mean_brightness", "--subset"), 2,
         ("--subset", "--prompts")),
    Case("subset-with-nothing-in-common", lambda w, m: score(w, "--metrics", "mean_brightness", "--subset",
                                                            "--prompts", str(prompts_csv(w, "q0", "q1"))), 2,
         ("--subset", "{work}/gen", "{work}/prompts.csv", "'p0'", "'q0'")),
    Case("reference-layout-without-reference", lambda w, m: score(w, "--reference-layout", "one-per-file"), 2,
         ("--reference-layout",)),
    # C. inputs people have: ids with stray spaces are named (a BOM is accepted: see below)
    Case("prompt-id-with-spaces", lambda w, m: score(w, "--metrics", "mean_brightness", "--prompts",
                                                     str(prompts_csv(w, "p0", " p1", "p2"))), 2,
         ("{work}/prompts.csv, row 3", "prompt_id ' p1' has spaces around it")),
    Case("manifest-id-with-spaces", lambda w, m: gen_with(w, lambda g: manifest(g, "p0,0,p0_0.png", "p1 ,0,p1_0.png")),
         2, ("{work}/gen/manifest.csv, row 3", "'p1 '", "spaces")),
    Case("file-name-with-spaces", lambda w, m: ["score", "--images", str(ref_folder(w, ("p0.png", " p1.png"))),
                                                "--quiet", "--metrics", "mean_brightness", "--prompts",
                                                str(prompts_csv(w, "p0", "p1"))], 2,
         ("{work}/ref", "' p1' is 'p1' with spaces", "1 prompt(s) have no generated image: 'p1'")),
    Case("image-id-differs-by-spaces", lambda w, m: gen_with(w, lambda g: [
        (g / f"p2_{k}.png").rename(g / f"p2 _{k}.png") for k in range(2)]) + [
        "--prompts", str(prompts_csv(w, "p0", "p1", "p2"))], 2,
         ("'p2 ' is 'p2' with spaces", "ids are matched exactly")),
    Case("weights-random-bytes", lambda w, m: random_weights(w), 2,
         ("{work}/xrv.bin", "not a safetensors, pickle, zip or TorchScript file", "first bytes 07 08 09")),
    # B. the disk fills up after every metric was computed: the results are kept, and the message says where
    Case("out-disk-full-after-compute", lambda w, m: (disk_full(w / "r.json", m), score(
        w, "--metrics", "mean_brightness", "--out", str(w / "r.json")))[1], 1,
         ("{work}/r.json", "No space left on device", "{tmp}/fallback/r-"), computes=True),
    Case("out-disk-full-everywhere", lambda w, m: (disk_full(w / "r.json", m, fallback_too=True), score(
        w, "--metrics", "mean_brightness", "--out", str(w / "r.json")))[1], 1,
         ("{work}/r.json", "standard output", '"mean_brightness"'), computes=True),
]


def complete_results(folder: Path) -> set[Path]:
    """The results files under ``folder`` that read as complete (garbled or partial ones do not)."""
    found = set()
    for path in folder.rglob("*.json"):
        try:
            if read_result(path)["status"] == "complete":
                found.add(path)
        except (ResultsError, ValueError, KeyError, TypeError):
            pass
    return found


def assert_refused_by_name(argv: list[str], work: Path, code: int, names: tuple[str, ...], capsys,
                           **fields: Path) -> None:
    """Run the command line: it exits with ``code``, prints no traceback, names each of ``names`` (formatted
    with work= and ``fields``) and leaves no new complete-looking results file under ``work``."""
    capsys.readouterr()
    before = complete_results(work)
    try:
        got = main(argv)
    except SystemExit as exit_:  # argparse refuses a flag's value itself
        got = exit_.code
    out, err = capsys.readouterr()
    said = out + err
    assert got == code, said
    assert TRACEBACK not in said
    for name in names:
        name = name.format(work=work, **fields)
        assert name in said, f"{name!r} not named in:\n{said}"
    assert complete_results(work) == before, "a complete-looking results file was left behind"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_refused_by_name(case, tmp_path, monkeypatch, plugins, capsys):
    plugins(BRIGHTNESS)
    from cxrgen_bench.scoring import runner

    computed = []
    real_evaluate = runner.evaluate
    monkeypatch.setattr(runner, "evaluate", lambda *a, **k: (computed.append(1), real_evaluate(*a, **k))[1])
    work = tmp_path / "work"
    work.mkdir()
    assert_refused_by_name(case.argv(work, monkeypatch), work, case.code, case.names, capsys, tmp=tmp_path)
    if not case.computes:
        assert not computed, "refused only after computing"


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


# --- results that stay sound ------------------------------------------------------------------------

def test_rounding_at_a_range_end_and_unknown_metrics_are_accepted(tmp_path):
    result = measured()
    result["metrics"]["ms_ssim"]["value"] = 1.0 + 1e-9  # identical samples, float rounding
    # no card installed: finite is all that can be checked
    result["metrics"]["made_up[x]"] = {"metric": "made_up", "version": "1", "direction": "lower", "value": 1e9}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(result))
    assert read_result(path)["metrics"]["made_up[x]"]["value"] == 1e9
    result["metrics"]["made_up[x]"]["value"] = float("nan")
    path.write_text(json.dumps(result))
    with pytest.raises(ResultsError, match=r"made_up\[x\]"):
        read_result(path)


def test_gate_on_a_subset_with_a_rules_file(tmp_path, capsys):
    run = measured()
    del run["metrics"][FID], run["metrics"]["classifier_auroc"]
    (tmp_path / "r.json").write_text(json.dumps(run))
    (tmp_path / "subset.yaml").write_text("metrics:\n  ms_ssim: {absolute: 0.03}\n")
    argv = ["gate", "--baseline", str(tmp_path / "r.json"), "--candidate", str(tmp_path / "r.json")]
    assert main(argv + ["--rules", str(REPO / "leaderboard" / "gates.yaml")]) == 1
    assert "required by rule 'classifier_auroc'" in capsys.readouterr().out
    assert main(argv + ["--rules", str(tmp_path / "subset.yaml")]) == 0


# --- what the class-C flags let through, and what the results then record ---------------------------

def run_json(argv: list[str], capsys) -> dict:
    code = main(argv + ["--quiet", "--no-cache", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_subset_scores_the_common_prompts_and_records_what_was_left_out(tmp_path, plugins, capsys):
    from cxrgen_bench.data import ImageSet
    from cxrgen_bench.data.images import read_image

    plugins(BRIGHTNESS)
    folder = image_folder(tmp_path)  # prompts p0, p1, p2; samples 0 and 1
    result = run_json(["score", "--images", str(folder), "--prompts", str(prompts_csv(tmp_path, "p1", "p2", "p3")),
                       "--metrics", "mean_brightness", "--subset"], capsys)
    subject = result["subject"]
    assert subject["subset"] == {"requested": {"images": 6, "image_prompt_ids": 3, "prompts": 3},
                                 "effective": {"images": 4, "prompts": 2},
                                 "dropped": {"images_not_in_prompts": 2, "image_prompt_ids_not_in_prompts": ["p0"],
                                             "prompts_without_images": ["p3"]}}
    assert subject["n_images"] == 4 and subject["n_prompts"] == 2 and result["prompt_set"]["n_prompts"] == 2
    assert result["run"]["settings"]["subset"] is True
    whole = ImageSet.from_folder(folder)
    assert subject["full_content_sha256"] == whole.content_sha256 != subject["content_sha256"]
    expected = np.mean([read_image(folder / f"p{i}_0.png").pixels.mean() for i in (1, 2)])
    assert result["metrics"]["mean_brightness"]["value"] == pytest.approx(expected, abs=1e-7)


def test_forced_layout_and_outside_paths_are_recorded(tmp_path, plugins, capsys):
    plugins(BRIGHTNESS)
    folder = image_folder(tmp_path)
    (folder / "p0_0.png").unlink()  # an error under the rule; read as one prompt per file when asked
    forced = run_json(["score", "--images", str(folder), "--metrics", "mean_brightness", "--layout", "one-per-file"],
                      capsys)
    assert forced["subject"]["layout"] == "one-per-file" and forced["subject"]["layout_forced"] is True
    assert forced["subject"]["n_prompts"] == 5 and forced["run"]["settings"]["layout"] == "one-per-file"
    ref_folder(tmp_path, ("p0.png",))
    manifest(folder, "p0,0,../ref/p0.png", "p0,1,p0_1.png", "p1,0,p1_0.png")
    outside = run_json(["score", "--images", str(folder), "--metrics", "mean_brightness", "--allow-outside-paths"],
                       capsys)
    assert outside["subject"]["layout"] == "manifest" and outside["subject"]["outside_paths"] == 1
    assert outside["run"]["settings"]["allow_outside_paths"] is True and "layout_forced" not in outside["subject"]
    plain = run_json(["score", "--images", str(image_folder(tmp_path / "b")), "--metrics", "mean_brightness"], capsys)
    assert "outside_paths" not in plain["subject"] and plain["subject"]["layout"] == "roentgen"


def test_an_excel_csv_with_a_byte_order_mark_is_read(tmp_path, plugins, capsys):
    plugins(BRIGHTNESS)
    folder = image_folder(tmp_path)
    (folder / "manifest.csv").write_bytes(b"\xef\xbb\xbfprompt_id, sample_idx, path\r\n" + b"".join(
        f"p{i},{k},p{i}_{k}.png\r\n".encode() for i in range(3) for k in range(2)))
    result = run_json(["score", "--images", str(folder), "--metrics", "mean_brightness", "--prompts",
                       str(prompts_csv(tmp_path, "p0", "p1", "p2", bom=True))], capsys)
    assert result["prompt_set"]["n_prompts"] == 3 and result["subject"]["n_images"] == 6


# --- the Python API refuses what the command line refuses, before reading anything -----------------

@pytest.mark.parametrize("kwargs,named", [
    ({"batch_size": 0}, "--batch-size (batch_size=) must be 1 or more, not 0"),
    ({"batch_size": "8"}, "--batch-size (batch_size=) '8': expected an integer"),
    ({"workers": 0}, "--workers (workers=)"),
    ({"bootstrap": -5}, "--bootstrap (bootstrap=) must be 0 or more, not -5"),
    ({"device": "gpu0"}, "--device 'gpu0'"),
    ({"metrics": "ms_ssim[foo]"}, "ms_ssim takes no options"),
    ({"metrics": ["fid[typo]"]}, "fid[typo]"),
    ({"out": "{work}"}, "is a folder"),
])
def test_score_from_python_runs_the_command_lines_checks(kwargs, named, tmp_path, monkeypatch):
    import cxrgen_bench
    from cxrgen_bench.data.manifest import ImageSet
    from cxrgen_bench.errors import InputError

    monkeypatch.setattr(ImageSet, "from_folder", classmethod(lambda *a, **k: pytest.fail("images read before the checks")))
    kwargs = {k: v.format(work=tmp_path) if isinstance(v, str) and k == "out" else v for k, v in kwargs.items()}
    with pytest.raises(InputError) as err:
        cxrgen_bench.score(images=tmp_path, **kwargs)
    assert named in str(err.value)


def test_the_other_python_entry_points_check_first(tmp_path, monkeypatch):
    from cxrgen_bench.errors import InputError
    from cxrgen_bench.scoring import runner

    monkeypatch.setattr("cxrgen_bench.generation.generate", lambda *a, **k: pytest.fail("generated before the checks"))
    with pytest.raises(InputError, match="--device 'gpu0'"):
        runner.score_reports("h.csv", "r.csv", device="gpu0")
    with pytest.raises(InputError, match="--batch-size"):
        runner.generate_then_score("folder", None, "p.csv", tmp_path / "g", batch_size=0)
    with pytest.raises(InputError, match="is a file; name a folder"):
        runner.score_checkpoints(tmp_path, "r.csv", "chexpert_at_k", out=prompts_csv(tmp_path, "p0"))


# --- hostile names: stored inside the store, rendered inert -----------------------------------------

@pytest.mark.parametrize("name", ["../../../x", "/etc/passwd", "..", ".hidden", "a/../../b", "C:\\evil\\x", "",
                                  "x" * 300, "имя модели"])
def test_entry_file_names_are_slugs_inside_the_store(name, tmp_path):
    result = measured()
    result["name"] = name
    store = Store(tmp_path / "lb")
    path = store.add(result)
    assert path.parent == store.entries_dir and path.resolve().parent == store.entries_dir.resolve()
    assert not path.name.startswith(".") and len(path.stem) <= 80
    assert all(c.isalnum() or c == "-" for c in path.stem) and path.stem.isascii()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [path]


def hostile_entries(*names: str) -> list[dict]:
    entries = []
    for i, name in enumerate(names):
        entry = measured(name, fid=10.0 + i)
        entry["name"] = f"entry-{i}"
        entries.append(entry)
    return entries


FORMULAS = ["=cmd|' /C calc'!A0", "+HYPERLINK(\"http://x\")", "@SUM(1+1)*cmd|' /C calc'!A0", "-1+2",
            "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("name", FORMULAS)
def test_csv_never_starts_a_cell_with_a_formula(name):
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(csv_text(tables_for(hostile_entries(name))), newline="")))
    assert rows and all(r["model"].startswith("'") and r["model"][1:].strip() == name.strip() for r in rows)
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")) and (not cell.startswith("-") or float(cell) < 0)


def test_csv_keeps_negative_numbers_numeric():
    import csv
    import io

    entries = hostile_entries("kid-model")
    entries[0]["metrics"]["kid[inception-v3-fid]"] = {"metric": "kid", "version": "1", "value": -0.001}
    rows = list(csv.DictReader(io.StringIO(csv_text(tables_for(entries)))))
    assert next(r for r in rows if r["metric"] == "kid[inception-v3-fid]")["value"] == "-0.001"


def test_markdown_and_html_boards_keep_names_inert(tmp_path):
    names = ["a|b\nnew | row", "[click](javascript:alert(1))", "<javascript:alert(2)>", "`code`"]
    files = build(hostile_entries(*names), tmp_path)
    md, page = files["README.md"].read_text(), files["index.html"].read_text()
    for table in re.findall(r"(?:^\|.*\n)+", md, flags=re.M):  # every row as many cells as its header
        assert len({len(re.findall(r"(?<!\\)\|", line)) for line in table.splitlines()}) == 1, table
    assert "new \\| row" in md and "\\[click\\](javascript" in md
    assert not re.search(r"(?<!\\)\]\(javascript:", md) and "<javascript:" not in md
    assert "href=" not in page and "<javascript:" not in page


# --- a damaged cache is recomputed, with a warning --------------------------------------------------

def test_damaged_cache_entries_are_recomputed_end_to_end(synthetic_sets, tmp_path, capsys, caplog):
    """fid on the shipped phantom evaluator: features (rows in the store) and statistics (.npz) cached,
    then damaged; the second run recomputes them, warns naming the file, and gives the same number."""
    args = ["score", "--images", str(synthetic_sets["gen"]), "--reference", str(synthetic_sets["ref"]),
            "--metrics", "fid[phantom-evaluator]", "--profile", "calibration-phantom", "--quiet", "--json",
            "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)["metrics"]["fid[phantom-evaluator]"]["value"]
    store = next((tmp_path / "cache" / "features").rglob("rows.sqlite"))
    with sqlite3.connect(store) as db:  # every row replaced by a well-formed row of the wrong shape
        db.execute("UPDATE rows SET data = ?, shape = '3', crc = ?", (np.zeros(3, np.float32).tobytes(),
                                                                     zlib.crc32(np.zeros(3, np.float32).tobytes())))
    for stats in (tmp_path / "cache" / "stats").glob("*.npz"):  # generated and reference: the row is read again
        stats.write_bytes(stats.read_bytes()[:50])  # truncated
    caplog.clear()
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["metrics"]["fid[phantom-evaluator]"]["value"] == pytest.approx(first, rel=1e-6)
    warned = caplog.text + err
    assert TRACEBACK not in warned and str(store) in warned and str(stats) in warned and "recomputing" in warned
    assert "the model's rows have" in warned


# --- newcomer items ---------------------------------------------------------------------------------

def test_weights_where_offline_never_downloads_and_says_so(monkeypatch, capsys):
    from cxrgen_bench.models import weights

    monkeypatch.delenv("CXRGEN_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(weights, "fetch_locked", lambda *a, **k: pytest.fail("downloaded while offline"))
    main(["weights", "where", "--offline"])
    out, err = capsys.readouterr()
    assert "offline: only looking" in err and "download: offline" in out and TRACEBACK not in out + err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    main(["weights", "where"])
    assert "offline: only looking" in capsys.readouterr().err


def test_readme_names_the_files_the_tools_write(tmp_path):
    from cxrgen_bench.data.datasets.base import PromptTable

    readme = (REPO / "README.md").read_text()
    assert "`OUT.json`" not in readme and "p19_prompts.csv.json" in readme
    PromptTable([], {"filters": {}}).write(tmp_path / "p19_prompts.csv")  # what `data prompts --out` calls
    assert (tmp_path / "p19_prompts.csv.json").is_file()
