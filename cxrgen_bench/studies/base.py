"""Studies: long, resumable, seeded evaluations that train models (augmentation classifier runs,
RoentGen Table 5; later others), written to the same results schema as every other evaluation.

A study splits its work into units (e.g. regime × size × seed), each with a stable id and its own
seed. `run_study` runs the units one after the other in an output folder it owns (locked; its
settings recorded in study.json and checked on every re-run); a finished unit's outputs are written
atomically to units/<id>.json, and a unit may checkpoint inside units/<id>/ (see
`cxrgen_bench.training.checkpoint`) so that a killed run resumes mid-unit. Kill it anywhere, re-run the
same command: it ends with the numbers an uninterrupted run gives. Then `summarise` turns the units'
outputs into metric entries (with their cards' versions), and the result goes to OUT/results.json.

A study's metrics are registered like any metric, with cards whose `requires` include
"training_budget"; `score` refuses them with a message naming the study command.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ClassVar

from .. import distributed, workdir
from ..errors import InputError
from ..evaluation.context import RunOptions
from ..evaluation.subjects import StudySubject
from ..files import atomic_write_text
from ..profiles import Profile, get_profile
from ..progress import ProgressFactory, factory
from ..registry import METRICS
from ..results.entry import Entry
from ..results.store import to_json_safe, validate, write_result

UNITS_DIR = "units"


@dataclass(frozen=True)
class Unit:
    id: str  # stable and file-name safe, e.g. "real-1100-seed0"
    seed: int
    settings: dict[str, Any] = field(default_factory=dict)
    # reads the other units' folders (e.g. a Fréchet distance over every chunk's features): runs after all
    # of them, in the process that writes the results
    final: bool = False


class Study:
    """Base class of registered studies (registry kind `studies`)."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    help: ClassVar[str] = ""

    def __init__(self, settings: dict[str, Any], profile: str | Profile = "roentgen2022",
                 options: RunOptions | None = None):
        self.settings = settings
        self.profile = get_profile(profile)
        self.options = options or RunOptions()
        self.progress: ProgressFactory = factory(self.options.progress)

    # --- what a study provides ----------------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """The study's own flags (`cxrgen-bench study NAME --help`)."""

    @classmethod
    def settings_from_args(cls, args: argparse.Namespace) -> dict[str, Any]:
        return {}

    def data(self) -> dict[str, Any]:
        """What the study trains and tests on, by content (sha256 of the prompt sets, image sets)."""
        return {}

    def units(self) -> list[Unit]:
        raise NotImplementedError

    def check(self, out: Path) -> None:
        """Refuse what would fail later, before the first unit trains (sizes larger than the data, ...)."""

    def unit_done(self, unit: Unit, folder: Path) -> None:
        """Called once the unit's outputs are on disk: drop what only a resume of it needed."""

    def run_unit(self, unit: Unit, folder: Path) -> dict[str, Any]:
        """Train and test one unit; JSON-able outputs. May checkpoint in ``folder`` and resume from it."""
        raise NotImplementedError

    def summarise(self, outputs: dict[str, dict[str, Any]]) -> list[Entry]:
        """The units' outputs → metric entries (use `entry`)."""
        raise NotImplementedError

    # --- shared -----------------------------------------------------------------------------------
    def subject(self) -> StudySubject:
        return StudySubject(self.name, {"version": self.version, **self.settings}, self.data())

    def entry(self, metric: str, key: str, value: float | None, n_requested: int, n_effective: int,
              details: dict[str, Any] | None = None, **optional: Any) -> Entry:
        """A results entry of a registered metric (its card gives name and version)."""
        return METRICS.get(metric)().entry(key, value, n_requested, n_effective, details, **optional)


def unit_record(path: Path) -> dict[str, Any] | None:
    """A finished unit's record, or None when it is cut short or garbled (a disk that filled mid-write by
    another tool, a hand edit): the unit is then computed again, never read half."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("outputs"), dict) else None


def read_unit(path: Path, study: Study, unit: Unit, out: Path) -> dict[str, Any]:
    record = unit_record(path)
    if record is None:  # damaged between being written and read (another process): say which
        raise InputError(f"{path}: the record of unit {unit.id} of study {study.name} is damaged; delete it and run "
                         f"the same command again to compute that unit anew (the others in {out} are kept)")
    return record["outputs"]


def run_study(study: Study, out: str | Path, model_name: str | None = None,
              after_unit: Callable[[Unit], None] | None = None, share: tuple[int, int] | None = None,
              wait_s: float = 5.0) -> dict[str, Any] | None:
    """Run (or resume) every unit of ``study`` in ``out``; returns the validated results object.

    Under torchrun / `accelerate launch` (or ``share`` = (rank, world size)) each process runs the units
    i with i % world == rank, each on its own device; rank 0 then waits for the others' units and
    writes the results (the other ranks return None). A unit is the same computation whichever process
    runs it, so the numbers do not depend on the number of processes."""
    started_at = time.monotonic()
    here = distributed.world() if share is None else None
    rank, world = share or (here.rank, here.size)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    units = study.units()
    _check_unit_ids(study, units)
    subject = study.subject()
    lock_name = ".study.lock" if world == 1 else f".study.lock.rank{rank}"  # one writer per share of the units
    handle = workdir.lock(out / lock_name, out, f"run of study {study.name}")
    try:
        _check_settings(study, subject, out)
        outputs: dict[str, dict[str, Any]] = {}
        shared = [u for u in units if not u.final]
        _run_units(study, out, [u for i, u in enumerate(shared) if i % world == rank], outputs, after_unit,
                   f"study {study.name}" + (f" (rank {rank}/{world})" if world > 1 else ""))
        if rank != 0:
            return None
        _wait_for_other_ranks(study, out, [u for u in shared if u.id not in outputs], wait_s)
        _run_units(study, out, [u for u in shared if u.id not in outputs], outputs, after_unit,
                   f"study {study.name}: the other ranks' units")
        _run_units(study, out, [u for u in units if u.final], outputs, after_unit, f"study {study.name}: final units")
        in_study_order = {u.id: outputs[u.id] for u in units}  # whoever ran them
        return _write_results(study, subject, out, in_study_order, world, model_name, started_at)
    finally:
        workdir.unlock(handle)


def _check_unit_ids(study: Study, units: list[Unit]) -> None:
    ids = [u.id for u in units]
    if len(set(ids)) != len(ids) or any(not i or "/" in i for i in ids):
        raise InputError(f"study {study.name}: unit ids must be unique, non-empty file names; got {ids}")


def _check_settings(study: Study, subject: StudySubject, out: Path) -> None:
    """Refuse a run whose settings differ from those of the work already in ``out``, then record them."""
    identity = {**subject.describe(), "profile": study.profile.describe()}
    what = f"a run of study {study.name}"
    # finished units, or a unit's resume state: work made under the recorded settings
    has_work = (out / UNITS_DIR).is_dir() and any((out / UNITS_DIR).iterdir())
    # the settings are checked against finished work first, but recorded only once the study's own
    # checks pass: a run refused up front leaves nothing that blocks the corrected command
    workdir.check_identity(out / "study.json", identity, what, write=False, started=has_work)
    study.check(out)
    workdir.check_identity(out / "study.json", identity, what, started=has_work)


def _run_units(study: Study, out: Path, todo: list[Unit], outputs: dict[str, dict[str, Any]],
               after_unit: Callable[[Unit], None] | None, what: str) -> None:
    """Run each unit of ``todo`` not yet on disk, and read every one's outputs into ``outputs``."""
    with study.progress(len(todo), what, "units") as bar:
        for unit in todo:
            done = out / UNITS_DIR / f"{unit.id}.json"
            _set_aside_if_damaged(study, unit, done)
            if not done.is_file():
                _run_unit(study, out, unit, done)
                if after_unit:
                    after_unit(unit)
            outputs[unit.id] = read_unit(done, study, unit, out)
            bar.update(1)


def _set_aside_if_damaged(study: Study, unit: Unit, done: Path) -> None:
    """A record cut short is kept beside the units for a look, and its unit computed again."""
    if done.is_file() and unit_record(done) is None:
        aside = done.with_name(f"{done.name}.damaged")
        os.replace(done, aside)
        study.options.log(f"study {study.name}: the record of unit {unit.id} was damaged (kept as "
                          f"{aside}); computing that unit again, the others are kept")


def _run_unit(study: Study, out: Path, unit: Unit, done: Path) -> None:
    study.options.log(f"study {study.name}: unit {unit.id}")
    result = study.run_unit(unit, out / UNITS_DIR / unit.id)
    atomic_write_text(done, json.dumps({"unit": unit.id, "seed": unit.seed,
                                        "settings": unit.settings, "outputs": to_json_safe(result)},
                                       indent=2, sort_keys=True))
    study.unit_done(unit, out / UNITS_DIR / unit.id)


def _wait_for_other_ranks(study: Study, out: Path, others: list[Unit], wait_s: float) -> None:
    """Until every unit of ``others`` is on disk; a rank that died leaves them to a re-run (which resumes)."""
    last_said = time.monotonic()
    while others:
        others = [u for u in others if not (out / UNITS_DIR / f"{u.id}.json").is_file()]
        if others and time.monotonic() - last_said > 60:
            study.options.log(f"study {study.name}: waiting for {len(others)} unit(s) of other ranks")
            last_said = time.monotonic()
        if others:
            time.sleep(wait_s)


def _write_results(study: Study, subject: StudySubject, out: Path, outputs: dict[str, dict[str, Any]], world: int,
                   model_name: str | None, started_at: float) -> dict[str, Any]:
    """The units' outputs summarised into OUT/results.json; returns the validated results object."""
    from ..scoring.record import new_result
    from ..threads import chosen

    entries = study.summarise(outputs)
    run = {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "duration_s": round(time.monotonic() - started_at, 3), "device": study.options.device,
           "settings": {"study": study.name, "units": list(outputs), "processes": world}}
    if chosen():
        run["threads"] = chosen()
    result = new_result(subject, study.profile, {e.key: e for e in entries}, {}, run, model_name)
    write_result(result, out / "results.json")
    return validate(to_json_safe(result))
