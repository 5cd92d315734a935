"""The settings half of the metric contract: every metric declares its settings once (type, default,
allowed values, description); a profile block is parsed through that declaration when the profile loads,
so a misspelt key, a wrong type or an out-of-range value is refused by name, never silently ignored."""
from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cxrgen_bench.errors import InputError
from cxrgen_bench.profiles import get_profile, settings_class
from cxrgen_bench.registry import METRICS
from cxrgen_bench.settings import Settings, SettingsError, parse_settings, setting

from .conftest import write_gray

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("roentgen2022", "roentgen2022-quick", "calibration-phantom", "chexgenbench2025")
# the sha256 results record for each shipped profile: a profile's file changes only on purpose, with its version
# when a number changes (roentgen2022 2.1 and chexgenbench2025 2.1: the peers' alpha rule, PRDC in float32, the
# PIL image processors, RoentGen-v2's scaling of a constant image; roentgen2022-quick follows roentgen2022)
RECORDED = {"roentgen2022": "b6a9dc2faa8d8a4589f6f2e22fc9b2498ec7b8fb191f37897967d62435a7af99",
            "roentgen2022-quick": "2e838bd858b443d9c963631ae143ab7d0e797d571133f1d4546ed53d6b052522",
            "calibration-phantom": "a179ca4ba8a12b5f60000c3af8c4eb9b8fbfd6d540631ea5609fb3e6fb0ca197",
            "chexgenbench2025": "43ab041fba6e4b72661c678a1d989d94f8c45d272842e693c71d8f703057d973"}


def user_profile(tmp_path: Path, block: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(f"extends: calibration-phantom\nname: mine\nversion: '1'\nmetrics:\n{block}", encoding="utf-8")
    return path


@pytest.mark.parametrize("name", SHIPPED)
def test_every_block_of_a_shipped_profile_is_typed_and_its_recorded_identity_unchanged(name):
    profile = get_profile(name)
    assert set(profile.typed) == set(profile.metrics)
    assert profile.sha256 == RECORDED[name] and profile.describe()["sha256"] == RECORDED[name]
    for block, typed in profile.typed.items():
        assert isinstance(typed, settings_class(block))
        # what the profile says is what the metric reads (a typed value equal to the YAML's)
        for key, value in profile.metrics[block].items():
            read = typed.to_dict()[key]
            assert read == value or (isinstance(value, dict) and all(read[k] == v for k, v in value.items())), \
                (block, key, value, read)


def test_a_misspelt_key_in_a_user_profile_is_refused_naming_file_block_key_and_the_valid_keys(tmp_path):
    path = user_profile(tmp_path, "  ms_ssim:\n    min_sampels_per_prompt: 3\n    precison: float64\n")
    with pytest.raises(SettingsError) as err:
        get_profile(str(path))
    said = str(err.value)
    assert str(path) in said and "metrics.ms_ssim" in said and "'min_sampels_per_prompt'" in said
    assert "did you mean 'min_samples_per_prompt'" in said and "valid: win_size" in said


@pytest.mark.parametrize("block, said", [
    ("  ms_ssim:\n    precision: float16\n", "metrics.ms_ssim.precision: text ('float16') is not one of"),
    ("  ms_ssim:\n    win_size: eleven\n", "metrics.ms_ssim.win_size: expected integer, not text ('eleven')"),
    ("  ms_ssim:\n    win_size: true\n", "metrics.ms_ssim.win_size: expected integer, not a boolean"),
    ("  kid:\n    subsets: 0\n", "metrics.kid.subsets: must be ≥ 1, not 0"),
    ("  kid:\n    subset_size: some\n", "metrics.kid.subset_size: expected integer or 'all'"),
    ("  cmmd:\n    sigma: 0\n", "metrics.cmmd.sigma: must be > 0, not 0.0"),
    ("  classifier_auroc:\n    filter_threshold: 1.5\n", "filter_threshold: must be 0 to 1, not 1.5"),
    ("  classifier_auroc:\n    label_policy: {uncertain: maybe}\n", "label_policy.uncertain: expected number"),
    ("  rrg:\n    bertscore: {modle: x}\n", "metrics.rrg.bertscore: unknown setting 'modle' (did you mean 'model'?)"),
    ("  fid:\n    backbones: xrv-densenet121\n", "metrics.fid.backbones: expected list of text or null"),
    ("  ms_sim:\n    win_size: 11\n", "metrics.ms_sim is not a registered metric or a study's block (did you mean "
                                      "'ms_ssim'?)"),
    ("  augmentation_auroc:\n    classifier: {batch_size: 1}\n", "classifier.batch_size: must be ≥ 2, not 1"),
    ("  vae_reconstruction: {resize: crop}\n", "metrics.vae_reconstruction.resize"),
    ("  memorisation_share: {quantil: 0.1}\n", "unknown setting 'quantil' (did you mean 'quantile'?)"),
])
def test_wrong_types_ranges_choices_and_names_are_refused_when_the_profile_loads(tmp_path, block, said):
    with pytest.raises(SettingsError, match=re.escape(said)):
        get_profile(str(user_profile(tmp_path, block)))


def test_the_command_line_refuses_a_misspelt_profile_key_with_exit_2_and_writes_nothing(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for pid in ("p0", "p1"):
        for k in range(2):
            write_gray(folder / f"{pid}_{k}.png", np.full((64, 64), 40 * k + 10, np.uint8))
    path = user_profile(tmp_path, "  ms_ssim:\n    min_sampels_per_prompt: 3\n")
    out = tmp_path / "r.json"
    run = subprocess.run([sys.executable, "-m", "cxrgen_bench", "score", "--images", str(folder), "--metrics",
                          "ms_ssim", "--profile", str(path), "--out", str(out)], capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr and "min_sampels_per_prompt" in run.stderr
    assert not out.exists()


def test_set_checks_keys_and_values_through_the_same_declaration():
    profile = get_profile("roentgen2022")
    for item, said in (("ms_ssim.min_sample=1", "has no setting 'min_sample' (did you mean 'min_samples_per_prompt'?)"),
                       ("rrg.bertscore.modl=x", "rrg.bertscore has no setting 'modl' (did you mean 'model'?)"),
                       ("ms_ssim.win_size=abc", "metrics.ms_ssim.win_size: expected integer")):
        with pytest.raises(InputError, match=re.escape(said)):
            profile.with_overrides([item])
    changed = profile.with_overrides(["rrg.bertscore.num_layers=6", "ms_ssim.samples_per_prompt=null"])
    assert changed.settings_for("rrg").bertscore.num_layers == 6
    assert changed.settings_for("ms_ssim").samples_per_prompt is None  # null: back to the declared default
    assert profile.settings_for("rrg").bertscore.num_layers == 5


def test_a_block_the_profile_does_not_have_reads_the_declared_defaults():
    settings = get_profile("roentgen2022").settings_for("reid")
    assert settings == METRICS.get("reid").Settings() and settings.backbone == "reid-siamese"


def test_every_metric_declares_its_settings_and_ls_lists_each_with_type_and_default(capsys):
    from cxrgen_bench.cli import main

    for name in METRICS.names():
        cls = METRICS.get(name).Settings
        assert dataclasses.is_dataclass(cls) and issubclass(cls, Settings)
        rows = cls.describe()
        assert all(r["type"] and r["doc"] for r in rows), name
        cls()  # every default parses: a metric runs on a profile that leaves its block out
    assert main(["ls", "metrics", "kid"]) == 0
    out = capsys.readouterr().out
    assert "subset_size" in out and "integer or 'all' = 1000" in out and "samples" in out
    assert main(["ls", "metrics", "rrg"]) == 0
    assert "bertscore.num_layers" in capsys.readouterr().out


def test_metrics_read_typed_settings_not_their_raw_profile_block():
    offenders = [f"{p.name}:{i}" for p in (REPO / "cxrgen_bench" / "metrics").glob("*.py")
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if re.search(r"self\.config\b|config\.get\(|config\[", line)]
    assert not offenders, offenders


@dataclasses.dataclass(frozen=True)
class Inner(Settings):
    size: int = setting(3, "a size", minimum=1)


@dataclasses.dataclass(frozen=True)
class Outer(Settings):
    inner: Inner = setting(Inner(), "a block")
    pair: tuple[float, float] = setting((0.1, 0.2), "two numbers")
    names: tuple[str, ...] = setting(("a",), "names")
    either: int | None = setting(None, "an integer or nothing")


def test_a_settings_declaration_types_nested_blocks_unions_and_lists():
    parsed = parse_settings(Outer, {"inner": {"size": 4}, "pair": [1, 2], "names": ["x", "y"], "either": 7}, "here")
    assert parsed.inner.size == 4 and parsed.pair == (1.0, 2.0) and parsed.names == ("x", "y") and parsed.either == 7
    assert parsed.to_dict() == {"inner": {"size": 4}, "pair": [1.0, 2.0], "names": ["x", "y"], "either": 7}
    assert parse_settings(Outer, parsed.to_dict(), "again") == parsed
    for block, said in (({"pair": [1]}, "here.pair: expected a list of 2"), ({"inner": {"size": 0}}, "here.inner.size"),
                        ({"names": "x"}, "here.names: expected a list"), ({"inner": 3}, "here.inner: expected a block")):
        with pytest.raises(SettingsError, match=re.escape(said)):
            parse_settings(Outer, block, "here")
