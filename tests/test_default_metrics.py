"""`score --images A --reference B` with no --metrics runs what the folders and the models here allow and
lists the rest with their reasons (exit 0); `weights status`'s ready-now command holds only what one image per
prompt can run."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

from cxrgen_bench.cli import main

from .test_first_hour import folders  # noqa: F401  (gen/ and real/: real radiographs, no network)


def test_default_metrics_run_what_they_can_and_list_the_rest(folders, capsys):  # noqa: F811
    code = main(["score", "--images", "gen/", "--reference", "real/", "--offline", "--out", "default.json"])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in out + err, err
    result = json.loads(Path("default.json").read_text())
    assert result["status"] == "complete"
    assert result["metrics"]["fid[inception-v3-fid]"]["value"] > 0
    skipped = result["run"]["settings"]["skipped"]
    assert "at least two samples per prompt" in skipped["ms_ssim"]
    assert "--prompts" in skipped["classifier_auroc"]
    assert "offline" in skipped["fid[xrv-densenet121]"] and "weights" in skipped["fid[xrv-densenet121]"]
    assert "ms_ssim" not in result["metrics"] and "fid[xrv-densenet121]" not in result["metrics"]
    listed = out.split("skipped (", 1)[1]
    assert all(f"  {key}: " in listed for key in skipped)


def test_a_metric_named_by_the_user_is_never_skipped(folders, capsys):  # noqa: F811
    code = main(["score", "--images", "gen/", "--reference", "real/", "--metrics", "ms_ssim", "--offline",
                 "--out", "named.json"])
    assert code == 1  # partial: it ran and failed, saying why
    result = json.loads(Path("named.json").read_text())
    assert "one image" in result["metrics"]["ms_ssim"]["error"] and "skipped" not in result["run"]["settings"]


def test_nothing_the_defaults_can_run_is_an_error_listing_each_reason(tmp_path, capsys):
    from PIL import Image

    (tmp_path / "gen").mkdir()
    for i in range(3):
        Image.new("L", (64, 64), 40 * i).save(tmp_path / "gen" / f"p{i}.png")
    code = main(["score", "--images", str(tmp_path / "gen"), "--offline"])
    err = capsys.readouterr().err
    assert code == 2 and "none of the default metrics can run" in err and "ms_ssim" in err and "Traceback" not in err


def test_the_ready_now_command_leaves_out_what_one_image_per_prompt_cannot_run(capsys):
    assert main(["weights", "status", "--profile", "roentgen2022"]) == 0
    out = capsys.readouterr().out
    command = out.split("score what is ready now:", 1)[1].strip().splitlines()[0]
    assert "ms_ssim" not in shlex.split(command)[shlex.split(command).index("--metrics") + 1]
    assert "with several images per prompt ({prompt_id}_{k} files), add ms_ssim" in out
