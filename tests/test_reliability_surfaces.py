"""Hardening of the surfaces added after the image path (issue 30): report scoring, text encoders, studies
(their inputs and their own saved state), numbers typed in from papers, gate rules and the dataset
commands — each a corpus of bad inputs through the command line, as a careless or unlucky user gives them.

Every case asserts the exit code (2 unusable input, nothing written; 1 a partial result whose undefined
or failed values are named), that no Python traceback is printed, that the message names the culprit
(file, row, column, id, key or flag), and that no complete-looking results file or store entry was left
behind. docs/reliability.md lists the contract of each surface.
"""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from cxrgen_bench.cli import main
from cxrgen_bench.data.labels import CHEXPERT_14
from cxrgen_bench.errors import ResultsError
from cxrgen_bench.results import read_result
from tests.test_reliability import assert_refused_by_name

TRACEBACK = "Traceback (most recent call last)"
TOY = {"cxrgen_bench.studies": {"toy-logistic": "tests.plugins.toy_study:ToyLogistic"},
       "cxrgen_bench.metrics": {"toy_accuracy": "tests.plugins.toy_study:ToyAccuracy"}}


@dataclass
class Case:
    """argv(work) builds the inputs under `work` and returns the arguments; every one of `names`, formatted
    with {work}, must appear in what the command prints."""
    id: str
    argv: Callable[[Path], list[str]]
    code: int
    names: tuple[str, ...]


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# --- score-reports ---------------------------------------------------------------------------------------

REFS = "id,text\na,Small left pleural effusion.\nb,Cardiomegaly.\n"


def reports(work: Path, hyps: str | bytes = REFS, refs: str | bytes = REFS, *flags: str,
            metrics: str = "rrg[bleu4+rouge_l]") -> list[str]:
    return ["score-reports", "--hypotheses", str(write(work / "h.csv", hyps)), "--references",
            str(write(work / "r.csv", refs)), "--metrics", metrics, "--profile", "calibration-phantom", "--quiet",
            "--no-cache", "--out", str(work / "out.json"), *flags]


NORMAL = "id,text\na,No acute cardiopulmonary process.\nb,Normal chest radiograph.\n"
SCORE_REPORTS = [
    Case("sr-hypotheses-missing", lambda w: ["score-reports", "--hypotheses", str(w / "nope.csv"), "--references",
                                             str(write(w / "r.csv", REFS))], 2, ("{work}/nope.csv", "not found")),
    Case("sr-hypotheses-a-folder", lambda w: ["score-reports", "--hypotheses", str(w), "--references",
                                              str(write(w / "r.csv", REFS))], 2, ("{work}", "is a folder")),
    Case("sr-no-id-column", lambda w: reports(w, "name,text\na,x\n"), 2, ("{work}/h.csv", "id column", "name")),
    Case("sr-header-only", lambda w: reports(w, "id,text\n"), 2, ("{work}/h.csv", "no hypotheses")),
    Case("sr-empty-file", lambda w: reports(w, ""), 2, ("{work}/h.csv", "found none")),
    Case("sr-duplicate-id", lambda w: reports(w, "id,text\na,x\na,y\nb,z\n"), 2, ("{work}/h.csv", "line 3", "'a'")),
    Case("sr-empty-id", lambda w: reports(w, "id,text\n,x\nb,z\n"), 2, ("{work}/h.csv", "line 2", "empty id")),
    Case("sr-ids-differ", lambda w: reports(w, "id,text\na,x\nc,y\n"), 2, ("'c'", "'b'", "same ids")),
    Case("sr-not-utf8", lambda w: reports(w, b"id,text\na,\xff\xfe\n"), 2, ("{work}/h.csv", "UTF-8")),
    Case("sr-nul-bytes", lambda w: reports(w, b"id,text\na,x\x00y\nb,z\n"), 2, ("{work}/h.csv", "line 2", "NUL")),
    Case("sr-empty-reference", lambda w: reports(w, REFS, "id,text\na,x\nb,\n"), 2,
         ("{work}/r.csv", "line 3", "'b'", "empty")),
    Case("sr-unknown-scorer", lambda w: reports(w, metrics="rrg[bleu5]"), 2, ("bleu5", "bleu4")),
    Case("sr-image-metric", lambda w: reports(w, metrics="fid"), 2, ("fid", "--images")),
    Case("sr-unknown-metric", lambda w: reports(w, metrics="rgg"), 2, ("'rgg'",)),
    Case("sr-bad-device", lambda w: reports(w, REFS, REFS, "--device", "gpu0"), 2, ("--device", "gpu0")),
    Case("sr-negative-bootstrap", lambda w: reports(w, REFS, REFS, "--bootstrap", "-3"), 2, ("--bootstrap",)),
    Case("sr-set-unknown-setting", lambda w: reports(w, REFS, REFS, "--set", "rrg.nope=1"), 2, ("nope", "rrg")),
    Case("sr-out-is-a-folder", lambda w: reports(w)[:-1] + [str(w)], 2, ("--out", "is a folder")),
    # an F1 over no positive class is 0/0: undefined, said, and the run is partial (it was 0.0, complete)
    Case("sr-f1-of-normal-reports-is-undefined", lambda w: reports(w, NORMAL, NORMAL, metrics="rrg[f1_labeller+bleu4]"),
         1, ("rrg[f1_labeller]", "undefined", "0/0")),
    Case("sr-bertscore-without-its-model", lambda w: reports(w, metrics="rrg[bertscore]")[:-1] + [
        str(w / "out.json"), "--profile", "roentgen2022"], 1, ("rrg[bertscore]", "--weights bertscore")),
]


# --- score --text-encoder --------------------------------------------------------------------------------

def labelled(n_per_class: int = 12) -> str:
    rows = ["prompt_id,text,Edema,Pleural Effusion"]
    rows += [f"e{i},Mild pulmonary edema {i}.,1,0" for i in range(n_per_class)]
    rows += [f"p{i},Small pleural effusion {i}.,0,1" for i in range(n_per_class)]
    return "\n".join(rows) + "\n"


def encoder(work: Path, reports_csv: str | bytes = labelled(), *flags: str, encoder: str = "bow",
            metrics: str = "chexpert_at_k") -> list[str]:
    return ["score", "--text-encoder", encoder, "--reports", str(write(work / "reports.csv", reports_csv)),
            "--metrics", metrics, "--quiet", "--no-cache", "--out", str(work / "out.json"), *flags]


TEXT_ENCODERS = [
    Case("te-reports-without-labels", lambda w: encoder(w, "prompt_id,text\na,x\nb,y\n"), 2,
         ("label columns in the reports CSV (--reports)",)),
    Case("te-k-above-every-class", lambda w: encoder(w, labelled(6)), 1,
         ("chexpert_at_k", "undefined", "k = 10", "--set chexpert_at_k.k")),
    Case("te-too-few-reports", lambda w: encoder(w, labelled(3), "--set", "chexpert_at_k.per_class_cap=2"), 1,
         ("chexpert_at_k", "more than k = 10 reports")),
    Case("te-unknown-kind", lambda w: encoder(w, encoder="nothing:/x"), 2, ("nothing:/x", "KIND")),
    Case("te-folder-missing", lambda w: encoder(w, encoder=str(w / "nope")), 2, ("{work}/nope", "does not exist")),
    Case("te-folder-without-a-model", lambda w: (w / "empty").mkdir() or encoder(w, encoder=str(w / "empty")), 2,
         ("{work}/empty", "config.json")),
    Case("te-unknown-extraction", lambda w: encoder(w, labelled(), "--extraction", "pooler"), 2,
         ("pooler", "words", "--extraction")),
    Case("te-no-reports", lambda w: ["score", "--text-encoder", "bow", "--metrics", "chexpert_at_k"], 2,
         ("--reports",)),
    Case("te-no-metrics", lambda w: ["score", "--text-encoder", "bow", "--reports",
                                     str(write(w / "reports.csv", labelled()))], 2, ("--metrics",)),
    Case("te-label-value", lambda w: encoder(w, "prompt_id,text,Edema\na,x,2\n"), 2,
         ("{work}/reports.csv", "row 2", "'Edema'", "'2'")),
    Case("te-empty-report", lambda w: encoder(w, "prompt_id,text,Edema\na,,1\n"), 2,
         ("{work}/reports.csv", "row 2", "'a'")),
    Case("te-duplicate-report-id", lambda w: encoder(w, "prompt_id,text,Edema\na,x,1\na,y,0\n"), 2,
         ("{work}/reports.csv", "row 3", "duplicate")),
    Case("te-open-clip-unknown-architecture", lambda w: encoder(w, encoder="open-clip:NoArch@/x.pt"), 2, ("NoArch",)),
    Case("te-open-clip-weights-missing", lambda w: encoder(w, encoder="open-clip:ViT-B-32@/nope.pt"), 2,
         ("/nope.pt", "does not exist")),
    Case("te-image-metric", lambda w: encoder(w, metrics="fid"), 2, ("fid", "an image set")),
    Case("te-and-images", lambda w: encoder(w, labelled(), "--images", str(w)), 2, ("one subject at a time",)),
]


# --- studies: their inputs and their own saved state ---------------------------------------------------------

def toy(work: Path, *flags: str) -> list[str]:
    return ["study", "toy-logistic", "--epochs", "2", "--seeds", "0,1", "--out", str(work / "run"), "--quiet",
            *flags]


def finished_toy(work: Path) -> Path:
    assert main(toy(work)) == 0
    return work / "run"


def damaged_study_json(work: Path) -> list[str]:
    record = finished_toy(work) / "study.json"
    record.write_text(record.read_text()[:40])
    return toy(work)


def other_settings(work: Path) -> list[str]:
    finished_toy(work)
    return toy(work)[:3] + ["3"] + toy(work)[4:]


def study_json_of_another_study(work: Path) -> list[str]:
    run = work / "run"
    write(run / "study.json", json.dumps({"kind": "study", "study": "memorisation", "settings": {}}))
    write(run / "units" / "pixel.json", json.dumps({"outputs": {}}))
    return toy(work)


STUDIES = [
    Case("st-damaged-study-json", damaged_study_json, 2, ("{work}/run/study.json", "damaged", "delete study.json")),
    Case("st-other-settings", other_settings, 2, ("{work}/run", "other settings", "settings.epochs")),
    Case("st-folder-of-another-study", study_json_of_another_study, 2, ("a run of study memorisation",)),
    Case("st-out-is-a-file", lambda w: toy(w)[:-3] + ["--out", str(write(w / "f.json", "{}")), "--quiet"], 2,
         ("--out", "is a file")),
    Case("st-set-unknown", lambda w: toy(w, "--set", "nothing.x=1"), 2, ("nothing",)),
    Case("st-augmentation-missing-csv", lambda w: ["study", "augmentation", "--real-train", str(w / "t.csv"),
                                                   "--real-test", str(w / "t.csv"), "--images-root", str(w),
                                                   "--plan", "10:0", "--out", str(w / "a"), "--quiet"], 2,
         ("{work}/t.csv", "not found")),
    Case("st-augmentation-bad-plan", lambda w: ["study", "augmentation", "--real-train", str(w / "t.csv"),
                                                "--real-test", str(w / "t.csv"), "--images-root", str(w),
                                                "--plan", "10:abc", "--out", str(w / "a"), "--quiet"], 2,
         ("10:abc",)),
    Case("st-memorisation-missing-folders", lambda w: ["study", "memorisation", "--train", str(w / "tr"),
                                                       "--held-out", str(w / "ho"), "--images", str(w / "g"),
                                                       "--out", str(w / "m"), "--quiet"], 2, ("{work}/tr",)),
    Case("st-vae-missing-folder", lambda w: ["study", "vae-reconstruction", "--vae", str(w / "none"),
                                             "--images", str(w / "none"), "--out", str(w / "v"), "--quiet"], 2,
         ("{work}/none",)),
]


# --- leaderboard import-reported ------------------------------------------------------------------------------

HEAD = 'citation: "A paper"\nprofile: {name: roentgen2022, version: "2.0"}\n'


def reported(work: Path, body: str | bytes, head: str = HEAD) -> list[str]:
    text = body if isinstance(body, bytes) else (head + body).encode()
    return ["leaderboard", "import-reported", "--root", str(work / "lb"), str(write(work / "p.yaml", text))]


def table(rows: str, columns: str = '["fid[xrv-densenet121]"]', extra: str = "") -> str:
    return f"tables:\n  - table: T2\n    columns: {columns}\n{extra}    rows:\n{rows}"


IMPORT_REPORTED = [
    Case("ir-yaml-syntax", lambda w: reported(w, 'tables: [\n  {table: "T2"\n'), 2, ("{work}/p.yaml", "line", "YAML")),
    Case("ir-duplicate-row", lambda w: reported(w, table('      "A": [3.6]\n      "A": [4.0]\n')), 2,
         ("{work}/p.yaml", "'A' appears twice", "lines 7 and 8")),
    Case("ir-text-for-a-number", lambda w: reported(w, table('      "A": ["0.32 ± 0.09"]\n')), 2,
         ("{work}/p.yaml", "row 'A'", "column 'fid[xrv-densenet121]'", "not a number", ".std")),
    Case("ir-unknown-metric", lambda w: reported(w, table('      "A": [3.6]\n', '["fdi"]')), 2,
         ("{work}/p.yaml", "'fdi'", "no metric card")),
    Case("ir-unknown-option", lambda w: reported(w, table('      "A": [3.6]\n', '["fid[typo]"]')), 2,
         ("{work}/p.yaml", "fid[typo]", "unknown option")),
    Case("ir-no-per-class-breakdown", lambda w: reported(w, table('      "A": [3.6]\n', '["fid[xrv-densenet121].Edema"]')),
         2, ("{work}/p.yaml", "per-class")),
    Case("ir-missing-citation", lambda w: reported(w, table('      "A": [3.6]\n'), head='profile: {name: x, version: "1"}\n'),
         2, ("{work}/p.yaml", "citation")),
    Case("ir-profile-without-version", lambda w: reported(w, table('      "A": [3.6]\n'),
                                                          head='citation: "P"\nprofile: {name: roentgen2022}\n'),
         2, ("{work}/p.yaml", "version")),
    Case("ir-rows-a-list", lambda w: reported(w, table('      - [3.6]\n')), 2, ("{work}/p.yaml", "rows", "mapping")),
    Case("ir-values-not-a-list", lambda w: reported(w, table('      "A": 3.6\n')), 2, ("{work}/p.yaml", "row 'A'")),
    Case("ir-value-count", lambda w: reported(w, table('      "A": [3.6, 4.0]\n')), 2,
         ("{work}/p.yaml", "row 'A'", "2 values for 1 columns")),
    Case("ir-unknown-units", lambda w: reported(w, table('      "A": [3.6]\n', extra="    units: permille\n")), 2,
         ("{work}/p.yaml", "permille")),
    Case("ir-value-out-of-range", lambda w: reported(w, table('      "A": [1.5]\n', '["classifier_auroc"]')), 2,
         ("{work}/p.yaml", "row 'A'", "classifier_auroc", "1.5")),
    Case("ir-nan", lambda w: reported(w, table('      "A": [.nan]\n')), 2, ("{work}/p.yaml", "row 'A'", "nan")),
    Case("ir-conflicting-tables", lambda w: reported(w, table('      "A": [3.6]\n') + "\n" + table(
        '      "A": [4.0]\n').replace("tables:\n", "")), 2, ("{work}/p.yaml", "row 'A'", "already given")),
    Case("ir-empty-file", lambda w: reported(w, b""), 2, ("{work}/p.yaml", "no documents")),
    Case("ir-not-utf8", lambda w: reported(w, b"citation: \xff\xfe\n"), 2, ("{work}/p.yaml", "UTF-8")),
    Case("ir-missing-file", lambda w: ["leaderboard", "import-reported", "--root", str(w / "lb"), str(w / "no.yaml")],
         2, ("{work}/no.yaml", "not found")),
    Case("ir-a-list-document", lambda w: reported(w, b"- 1\n- 2\n"), 2, ("{work}/p.yaml", "a document")),
]


# --- gate rules -----------------------------------------------------------------------------------------------

def gate(work: Path, rules: str | bytes) -> list[str]:
    from .results_factory import measured

    for name in ("base", "cand"):
        write(work / f"{name}.json", json.dumps(measured()))
    return ["gate", "--baseline", str(work / "base.json"), "--candidate", str(work / "cand.json"), "--rules",
            str(write(work / "rules.yaml", rules))]


GATE_RULES = [
    Case("gr-significance-above-one", lambda w: gate(w, "metrics:\n  ms_ssim: {significance: 7}\n"), 2,
         ("{work}/rules.yaml", "ms_ssim", "significance", "between 0 and 1", "7")),
    Case("gr-significance-zero", lambda w: gate(w, "default: {significance: 0}\n"), 2,
         ("{work}/rules.yaml", "default", "significance")),
    Case("gr-ignore-not-boolean", lambda w: gate(w, "metrics:\n  ms_ssim: {ignore: maybe}\n"), 2,
         ("{work}/rules.yaml", "ignore", "maybe")),
    Case("gr-unknown-metric", lambda w: gate(w, "metrics:\n  fdi[xrv-densenet121]: {absolute: 1}\n"), 2,
         ("{work}/rules.yaml", "fdi[xrv-densenet121]", "no metric")),
    Case("gr-duplicate-metric", lambda w: gate(w, "metrics:\n  ms_ssim: {absolute: 1}\n  ms_ssim: {absolute: 2}\n"), 2,
         ("{work}/rules.yaml", "'ms_ssim' appears twice")),
    Case("gr-yaml-syntax", lambda w: gate(w, "metrics: {ms_ssim: {absolute: 1}\n"), 2, ("{work}/rules.yaml", "line")),
    Case("gr-negative-tolerance", lambda w: gate(w, "metrics:\n  ms_ssim: {relative: -0.1}\n"), 2,
         ("{work}/rules.yaml", "relative", "-0.1")),
    Case("gr-unknown-field", lambda w: gate(w, "metrics:\n  ms_ssim: {tolerance: 1}\n"), 2,
         ("{work}/rules.yaml", "tolerance")),
    Case("gr-a-folder", lambda w: gate(w, "")[:-1] + [str(w)], 2, ("{work}", "folder")),
    Case("gr-not-utf8", lambda w: gate(w, b"metrics:\n  ms_ssim: {absolute: \xff}\n"), 2, ("{work}/rules.yaml", "UTF-8")),
]


# --- data prompts / stats / label --------------------------------------------------------------------------------

CHEXPERT_HEADER = ("subject_id,study_id," + ",".join(CHEXPERT_14) + "\n").encode()


def mimic(work: Path, damage: Callable[[Path], object]) -> list[str]:
    root = work / "mimic"
    for stem in ("split", "chexpert", "metadata"):
        write(root / f"mimic-cxr-2.0.0-{stem}.csv.gz", gzip.compress(b"dicom_id,study_id,subject_id\n"))
    damage(root)
    return ["data", "prompts", "--dataset", "mimic-cxr", "--root", str(root), "--out", str(work / "p.csv")]


DATA = [
    Case("da-not-gzip", lambda w: mimic(w, lambda r: write(r / "mimic-cxr-2.0.0-chexpert.csv.gz", b"garbage")), 2,
         ("{work}/mimic/mimic-cxr-2.0.0-chexpert.csv.gz", "gzip")),
    Case("da-gzip-cut-short", lambda w: mimic(w, lambda r: write(
        r / "mimic-cxr-2.0.0-chexpert.csv.gz", gzip.compress(CHEXPERT_HEADER + b"1,2" + b",1" * 14 + b"\n" * 5000)
        [:-30])), 2,
         ("{work}/mimic/mimic-cxr-2.0.0-chexpert.csv.gz", "download it again")),
    Case("da-missing-columns", lambda w: mimic(w, lambda r: None), 2, ("{work}/mimic", "missing column")),
    Case("da-no-root", lambda w: ["data", "prompts", "--dataset", "mimic-cxr"], 2, ("--root",)),
    Case("da-limit-zero", lambda w: ["data", "prompts", "--dataset", "openi", "--limit", "0"], 2, ("--limit",)),
    Case("da-negative-min-chars", lambda w: ["data", "prompts", "--dataset", "openi", "--min-chars", "-1"], 2,
         ("--min-chars",)),
    Case("da-no-prompt-left", lambda w: ["data", "prompts", "--dataset", "openi", "--views", "XYZ", "--out",
                                         str(w / "v.csv")], 2, ("no prompt is left", "XYZ", "Nothing was written")),
    Case("da-unknown-section", lambda w: ["data", "prompts", "--dataset", "openi", "--section", "nope"], 2,
         ("'nope'",)),
    Case("da-out-a-folder", lambda w: ["data", "prompts", "--dataset", "openi", "--out", str(w)], 2,
         ("--out", "is a folder")),
    Case("da-padchest-missing", lambda w: ["data", "prompts", "--dataset", "padchest", "--root", str(w)], 2,
         ("{work}", "PadChest")),
    Case("da-empty-label-text", lambda w: ["data", "label", "  "], 2, ("the text is empty",)),
    Case("da-stats-damaged", lambda w: ["data", "stats"] + mimic(w, lambda r: write(
        r / "mimic-cxr-2.0.0-chexpert.csv.gz", b"x"))[2:-2], 2, ("{work}/mimic/mimic-cxr-2.0.0-", "gzip")),
]

CASES = SCORE_REPORTS + TEXT_ENCODERS + STUDIES + IMPORT_REPORTED + GATE_RULES + DATA


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_on_the_newer_surfaces_is_named(case, tmp_path, plugins, capsys):
    plugins(TOY)
    work = tmp_path / "work"
    work.mkdir()
    assert_refused_by_name(case.argv(work), work, case.code, case.names, capsys)
    assert not list((work / "lb" / "entries").glob("*.json")) if (work / "lb").exists() else True


def test_each_surface_has_its_corpus():
    assert len(CASES) >= 80 and len({c.id for c in CASES}) == len(CASES)
    for group in (SCORE_REPORTS, TEXT_ENCODERS, STUDIES, IMPORT_REPORTED, GATE_RULES, DATA):
        assert len(group) >= 9


def test_a_damaged_unit_record_is_computed_again_and_the_others_are_kept(tmp_path, plugins, capsys):
    plugins(TOY)
    assert main(toy(tmp_path, "--json")) == 0
    first = json.loads(capsys.readouterr().out)
    units = tmp_path / "run" / "units"
    kept = (units / "seed0.json").read_text()
    (units / "seed1.json").write_text((units / "seed1.json").read_text()[:30])  # cut short
    assert main(toy(tmp_path, "--json")) == 0
    again = json.loads(capsys.readouterr().out)
    assert (units / "seed1.json.damaged").is_file() and (units / "seed0.json").read_text() == kept
    assert again["metrics"]["toy_accuracy"]["value"] == first["metrics"]["toy_accuracy"]["value"]


def test_openi_prompts_honour_every_filter(tmp_path, capsys):
    out = tmp_path / "o.csv"
    assert main(["data", "prompts", "--dataset", "openi", "--limit", "20", "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 21
    description = json.loads((tmp_path / "o.csv.json").read_text())
    assert description["filters"]["limit"] == 20 and description["skipped"]["beyond --limit 20 (seeded sample)"]["count"] > 0
    assert main(["data", "prompts", "--dataset", "openi", "--min-chars", "30", "--max-tokens", "20",
                 "--no-finding-cap", "10", "--out", str(out)]) == 0
    skipped = json.loads((tmp_path / "o.csv.json").read_text())["skipped"]
    assert {"text shorter than 30 characters", "text longer than 20 CLIP tokens", "No Finding cap (10)"} <= set(skipped)


def test_undefined_values_are_missing_on_boards_and_in_the_gate(tmp_path):
    """A null with its reason: partial on write, "—" on the board, "missing" in the gate, never 0."""
    from cxrgen_bench.gate import load_rules, run_gate
    from cxrgen_bench.leaderboard.render import tables_for
    from cxrgen_bench.results import write_result

    from .results_factory import measured

    from cxrgen_bench.results import upgrade

    result = upgrade(measured())
    result["metrics"]["ms_ssim"].update(value=None, undefined="no pair to compare")
    result["metrics"]["ms_ssim"].pop("ci95", None)
    result["metrics"]["ms_ssim"].pop("bootstrap", None)
    result["metrics"]["ms_ssim"].pop("std", None)
    with pytest.raises(ResultsError, match="ms_ssim.*undefined.*partial"):
        write_result(result, tmp_path / "r.json")
    result["status"] = "partial"
    write_result(result, tmp_path / "r.json")
    stored = read_result(tmp_path / "r.json")
    assert stored["metrics"]["ms_ssim"]["undefined"] == "no pair to compare"
    cells = [c for t in tables_for([{**stored, "name": "x"}]) for c in t.columns if c.key == "ms_ssim"]
    assert not cells  # no value, no column of zeros
    report = run_gate(measured(), stored, load_rules(None))
    assert any(r.key == "ms_ssim" and r.status == "missing" for r in report.rows)
