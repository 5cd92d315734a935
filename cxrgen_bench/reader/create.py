"""`reader-study create`: draw the items, re-encode their images and write the study folder.

What is drawn (reproducibly from ``seed``; every choice is recorded in study.json and the database):

- Strata: with ``balance_by="labels"`` each prompt belongs to the rarest of its positive CheXpert labels
  (frequencies over the prompts CSV; "No Finding" when it has none), so that rare findings are not
  crowded out (the paper's "balanced sample of p19"); with "none" there is one stratum.
- Realism: ``realism_pairs`` pairs per generator, drawn as slots: slot k takes one stratum (round robin
  over the strata in a seeded order, skipping a stratum with too few prompts left) and from it one prompt
  per generator, each prompt used once in the whole realism task; when no stratum has enough prompts
  left for a slot, the remaining prompts are pooled and dealt in "mixed" slots. A real image is therefore never shown
  twice (a repeated image would give itself away as the real one), and the generators are matched slot
  by slot on the finding, which is what makes their comparison paired (the bootstrap resamples slots).
- Alignment: ``alignment_items`` prompts, one slot each, drawn the same way; every generator's image of
  the slot's prompt is an item (the same prompt for every generator: paired). A synthetic image shown in
  the realism task is never shown again: an alignment item takes the lowest sample index of its
  generator that realism did not use, and a prompt without such a sample is not drawn for alignment.
- Readers: every reader rates every item; the realism block comes first, then alignment, each in an
  order drawn per reader, and each realism pair is shown left–right swapped or not, drawn per reader.

Images: every image is decoded (`data.images.read_image`), brought to ``size``×``size`` by the project's
rule (`functional.resize.square`: shorter side to size, centre crop), quantised to 8 bits and written as
a grayscale PNG with no chunk but IHDR, IDAT and IEND, under a random 24-character name, in random order
with one fixed modification time. Uncompressed by default (`compress=False`): every file then has the
same number of bytes, so the file size says nothing about real or synthetic; ``compress=True`` makes
files about 2–4× smaller but lets their size vary with content (the demo measures by how much).

The folder is built beside ``out`` and renamed into place at the end: an existing folder is never
touched, and an interrupted `create` leaves no half-made study under that name. The folder is private
to its owner (0700): the database and readers.csv hold the readers' links.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import InputError
from . import db as studydb

DEFAULT_URL = "http://127.0.0.1:8765"
READER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
GENERATOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
RESERVED = {"pooled", "all", "realism", "alignment"}  # option names of the metric keys
BALANCE = ("labels", "none")
NO_FINDING = "No Finding"
FIXED_MTIME = 946684800  # 2000-01-01: no file's time says when (or in which order) it was written
SHOWN = 10


@dataclass
class _Image:
    source: Path
    name: str = field(default_factory=lambda: secrets.token_urlsafe(18) + ".png")


def generator_name(folder: Path) -> str:
    """The generator named by the folder's generation.json, else the folder's name."""
    record = folder / "generation.json"
    try:
        name = json.loads(record.read_text(encoding="utf-8"))["generator"]["name"]
        if isinstance(name, str) and GENERATOR_NAME.match(name):
            return name
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return folder.resolve().name


def parse_generated(specs: Sequence[str]) -> dict[str, Path]:
    """``--generated [NAME=]FOLDER`` flags → {name: folder}."""
    out: dict[str, Path] = {}
    for spec in specs:
        name, sep, folder = spec.partition("=")
        path = Path(folder if sep else spec)
        name = name if sep else generator_name(path)
        if name in out:
            raise InputError(f"--generated: two image folders are named {name!r}; name them: --generated NAME=FOLDER")
        out[name] = path
    return out


def _check_names(readers: Sequence[str], generators: Sequence[str]) -> None:
    if not readers:
        raise InputError("name at least one reader (--readers r1,r2)")
    bad = [r for r in readers if not READER_NAME.match(r) or r.lower() in RESERVED]
    if bad:
        raise InputError(f"reader name(s) {bad}: use 1–32 letters, digits, '-' or '_' (not {', '.join(sorted(RESERVED))});"
                         " they name the readers' columns in results and exports")
    if len(set(readers)) != len(readers):
        raise InputError(f"reader names must be distinct: {list(readers)}")
    if not generators:
        raise InputError("give at least one folder of generated images (--generated FOLDER)")
    bad = [g for g in generators if not GENERATOR_NAME.match(g)]
    if bad:
        raise InputError(f"generator name(s) {bad}: use letters, digits, '.', '+', '-' or '_' (--generated NAME=FOLDER)")


def _listing(ids: Sequence[str]) -> str:
    ids = sorted(ids)
    return ", ".join(ids[:SHOWN]) + (f" … ({len(ids)} in all)" if len(ids) > SHOWN else "")


def strata(prompts: Any, balance_by: str) -> dict[str, str]:
    """prompt id → its stratum (see the module docstring)."""
    if balance_by == "none":
        return {pid: "all" for pid in prompts.prompts}
    findings = [n for n in prompts.label_names if n != NO_FINDING]
    if not findings:
        raise InputError(f"{prompts.path}: --balance-by labels needs CheXpert label columns (e.g. Cardiomegaly, "
                         "Pleural Effusion) in the prompts CSV; it has none. Add them, or draw with --balance-by none")
    positives = {pid: [n for n in findings if p.labels.get(n) == 1.0] for pid, p in prompts.prompts.items()}
    frequency = {n: sum(n in pos for pos in positives.values()) for n in findings}
    return {pid: min(pos, key=lambda n: (frequency[n], n)) if pos else NO_FINDING for pid, pos in positives.items()}


def draw_slots(members: Mapping[str, Sequence[str]], n_slots: int, per_slot: int,
               rng: np.random.Generator) -> list[tuple[str, list[str]]]:
    """Round robin over the strata (in a seeded order): each slot takes ``per_slot`` prompts of one stratum.
    When no stratum has ``per_slot`` prompts left, the rest are pooled and dealt in slots marked "mixed"."""
    pools = {s: [ids[i] for i in rng.permutation(len(ids))] for s, ids in
             ((s, sorted(members[s])) for s in sorted(members))}
    order = sorted(pools)
    order = [order[i] for i in rng.permutation(len(order))]
    slots: list[tuple[str, list[str]]] = []
    while len(slots) < n_slots:
        took = False
        for s in order:
            if len(slots) < n_slots and len(pools[s]) >= per_slot:
                slots.append((s, [pools[s].pop() for _ in range(per_slot)]))
                took = True
        if not took:
            break
    rest = [pid for s in order for pid in pools[s]]
    rest = [rest[i] for i in rng.permutation(len(rest))]
    while len(slots) < n_slots and len(rest) >= per_slot:
        slots.append(("mixed", [rest.pop() for _ in range(per_slot)]))
    return slots


def _encode(source: Path, size: int, compress: bool) -> bytes:
    from PIL import Image

    from ..data.images import read_image
    from ..functional.resize import square

    pixels = read_image(source).pixels.astype(np.float32) * 255.0
    pixels = square(pixels, size) if pixels.shape != (size, size) else pixels
    out = io.BytesIO()
    # no pnginfo, no dpi, no ICC profile: PIL then writes IHDR, IDAT and IEND only
    Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "L").save(
        out, format="PNG", compress_level=9 if compress else 0, optimize=False)
    return out.getvalue()


def _sets(generated: Mapping[str, Path], real: Path | None, prompts_csv: Path, need_real: bool):
    from ..data.manifest import ImageSet, PromptSet

    prompts = PromptSet.from_csv(prompts_csv)
    wanted = set(prompts.prompts)
    sets = {}
    for name, folder in generated.items():
        images = ImageSet.from_folder(folder)
        missing = wanted - set(images.prompt_ids)
        if missing:
            raise InputError(f"{folder} (generator {name}) has no image for {len(missing)} prompt(s) of {prompts_csv}: "
                             f"{_listing(missing)}. Generate them, or give a prompts CSV of the prompts it holds")
        sets[name] = images
    real_set = None
    if need_real:
        if real is None:
            raise InputError("realism pairs need the real images of the prompts (--real FOLDER)")
        real_set = ImageSet.from_folder(real)
        missing = wanted - set(real_set.prompt_ids)
        if missing:
            raise InputError(f"{real} (real images) has no image for {len(missing)} prompt(s) of {prompts_csv}: "
                             f"{_listing(missing)}. Every prompt needs its real image for a realism pair")
    return prompts, sets, real_set


@dataclass(frozen=True)
class StudyDesign:
    """How a study is drawn and its images encoded (see the module docstring); recorded in study.json."""

    realism_pairs: int = 104
    alignment_items: int = 107
    readers: tuple[str, ...] = ("r1", "r2")
    balance_by: str = "labels"
    seed: int = 0
    size: int = 512
    compress: bool = False
    base_url: str = DEFAULT_URL

    def check(self, generators: Sequence[str]) -> None:
        _check_names(self.readers, generators)
        if self.balance_by not in BALANCE:
            raise InputError(f"--balance-by must be one of {', '.join(BALANCE)}, not {self.balance_by!r}")
        if self.realism_pairs < 0 or self.alignment_items < 0 or self.realism_pairs + self.alignment_items == 0:
            raise InputError("ask for at least one realism pair or alignment item (--realism-pairs, --alignment-items)")
        if not 32 <= self.size <= 4096:
            raise InputError(f"--size {self.size}: choose 32 to 4096 pixels")


@dataclass(frozen=True)
class _Pool:
    """What the items are drawn from: the prompts with their strata, each generator's images and the real ones."""

    prompts: Any
    sets: dict[str, Any]
    real_set: Any | None
    names: list[str]  # the generators, sorted
    groups: dict[str, dict[str, list[Any]]]  # generator → prompt id → its images, lowest sample index first
    real_groups: dict[str, list[Any]]
    stratum: dict[str, str]  # prompt id → its stratum
    by_stratum: dict[str, list[str]]


def create_study(out: str | Path, generated: Mapping[str, str | Path], prompts: str | Path,
                 real: str | Path | None = None, realism_pairs: int = 104, alignment_items: int = 107,
                 readers: Sequence[str] = ("r1", "r2"), balance_by: str = "labels", seed: int = 0, size: int = 512,
                 compress: bool = False, base_url: str = DEFAULT_URL,
                 log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write a reader study to ``out`` (which must not exist); returns its summary (readers' links included)."""
    from ..version import __version__

    log = log or (lambda message: None)
    out = Path(out)
    generated = {name: Path(folder) for name, folder in generated.items()}
    design = StudyDesign(realism_pairs, alignment_items, tuple(readers), balance_by, seed, size, compress, base_url)
    design.check(list(generated))
    _check_out(out)
    pool = _read_pool(generated, Path(real) if real else None, Path(prompts), design)
    realism, realism_items, shown = _draw_realism(pool, design)
    alignment, alignment_list = _draw_alignment(pool, design, shown)
    settings = _settings(pool, design, realism, alignment)
    log(f"drew {len(realism)} realism slot(s) × {len(pool.names)} generator(s) and {len(alignment)} alignment "
        f"prompt(s) × {len(pool.names)} generator(s); {len(design.readers)} reader(s)")
    return _write_new_folder(out, realism_items + alignment_list, design, settings, __version__, log)


def _check_out(out: Path) -> None:
    if out.exists() or out.is_symlink():
        raise InputError(f"{out} already exists; a study folder is never overwritten. Choose a new --out (the "
                         "existing study, with its answers, is left as it is)")
    if not out.parent.is_dir():
        raise InputError(f"{out.parent}: no such folder to create the study in")


def _read_pool(generated: Mapping[str, Path], real: Path | None, prompts_csv: Path, design: StudyDesign) -> _Pool:
    prompts, sets, real_set = _sets(generated, real, prompts_csv, design.realism_pairs > 0)
    names = sorted(generated)
    stratum = strata(prompts, design.balance_by)
    by_stratum: dict[str, list[str]] = {}
    for pid, s in stratum.items():
        by_stratum.setdefault(s, []).append(pid)
    return _Pool(prompts=prompts, sets=sets, real_set=real_set, names=names,
                 groups={g: sets[g].by_prompt() for g in names},
                 real_groups=real_set.by_prompt() if real_set is not None else {},
                 stratum=stratum, by_stratum=by_stratum)


def _draw_realism(pool: _Pool, design: StudyDesign) -> tuple[list[tuple[str, list[str]]], list[dict[str, Any]],
                                                            dict[tuple[str, str], set[int]]]:
    """Per slot one prompt per generator, no prompt twice; returns the slots, their items and the sample
    indices they show, by (generator, prompt id)."""
    names = pool.names
    rng = np.random.default_rng([design.seed, 1])
    slots = draw_slots(pool.by_stratum, design.realism_pairs, len(names), rng)
    if len(slots) < design.realism_pairs:
        possible = len(pool.stratum) // len(names)
        raise InputError(
            f"asked for {design.realism_pairs} realism pairs per generator ({len(names)} generator(s): {len(names)} "
            f"distinct prompts per pair slot, so that no real image is shown twice), but the {len(pool.prompts.prompts)} "
            f"prompts of {pool.prompts.path} allow {possible}. Give more prompts (with their real and generated "
            "images) or ask for fewer pairs (--realism-pairs)")
    shown: dict[tuple[str, str], set[int]] = {}
    items = []
    for k, (_, pids) in enumerate(slots, start=1):
        order = rng.permutation(len(names))
        for gen_index, pid in zip(order, pids):
            gen = names[gen_index]
            synthetic = pool.groups[gen][pid][0]
            real_record = pool.real_groups[pid][0]
            shown.setdefault((gen, pid), set()).add(synthetic.sample_idx)
            real_first = bool(rng.integers(2))
            items.append({"task": "realism", "unit": f"realism-{k:04d}", "slot_prompts": sorted(pids),
                          "prompt_id": pid, "generator": gen, "finding": pool.stratum[pid],
                          "real_image": "a" if real_first else "b",
                          "a": real_record if real_first else synthetic,
                          "b": synthetic if real_first else real_record})
    return slots, items, shown


def _draw_alignment(pool: _Pool, design: StudyDesign, shown: dict[tuple[str, str], set[int]]
                    ) -> tuple[list[tuple[str, list[str]]], list[dict[str, Any]]]:
    """One prompt per slot, every generator's image of it, never an image realism showed."""
    names = pool.names

    def free_sample(gen: str, pid: str):
        taken = shown.get((gen, pid), set())
        return next((r for r in pool.groups[gen][pid] if r.sample_idx not in taken), None)

    eligible: dict[str, list[str]] = {}
    for s, pids in pool.by_stratum.items():
        keep = [p for p in pids if all(free_sample(g, p) is not None for g in names)]
        if keep:
            eligible[s] = keep
    slots = draw_slots(eligible, design.alignment_items, 1, np.random.default_rng([design.seed, 2]))
    if len(slots) < design.alignment_items:
        possible = sum(len(v) for v in eligible.values())
        raise InputError(
            f"asked for {design.alignment_items} alignment items, but only {possible} prompts have, for every generator, "
            "an image that the realism pairs do not already show (a synthetic image is never shown twice). Give more "
            "prompts, more samples per prompt (a second sample of a prompt used for realism will do), or ask for "
            "fewer items (--alignment-items)")
    items = [{"task": "alignment", "unit": f"alignment-{k:04d}", "slot_prompts": [pid], "prompt_id": pid,
              "generator": gen, "finding": pool.stratum[pid], "real_image": None, "a": free_sample(gen, pid),
              "b": None, "prompt": pool.prompts.prompts[pid].text}
             for k, (_, (pid,)) in enumerate(slots, start=1) for gen in names]
    return slots, items


def _settings(pool: _Pool, design: StudyDesign, realism: list[tuple[str, list[str]]],
              alignment: list[tuple[str, list[str]]]) -> dict[str, Any]:
    """Every choice behind the draw, as study.json and the database record it."""
    names = pool.names
    return {
        "format": studydb.FORMAT, "seed": design.seed, "balance_by": design.balance_by,
        "balance_rule": ("stratum = the rarest positive CheXpert label of the prompt (No Finding when none); "
                         "round robin over the strata in a seeded order" if design.balance_by == "labels"
                         else "one stratum: a seeded random sample"),
        "realism_pairs": design.realism_pairs, "alignment_items": design.alignment_items, "generators": names,
        "readers": list(design.readers), "size": design.size, "encoding": {
            "format": "PNG", "mode": "L (8-bit grayscale)", "chunks": "IHDR, IDAT, IEND only",
            "zlib_level": 9 if design.compress else 0, "equal_file_sizes": not design.compress,
            "resize": "shorter side to size (bicubic on float pixels), centre crop (functional.resize.square)"},
        "order": "realism block, then alignment; each block in a random order per reader; realism pairs swapped "
                 "left-right at random per reader",
        "sample_rule": "realism: each generator's lowest sample index; alignment: the lowest index realism did not "
                       "show",
        "strata": {s: len(v) for s, v in sorted(pool.by_stratum.items())},
        "drawn": {"realism": _count(s for s, _ in realism), "alignment": _count(s for s, _ in alignment)},
        "inputs": {"prompts": pool.prompts.describe(),
                   "real": pool.real_set.describe() if pool.real_set is not None else None,
                   "generated": {n: {**pool.sets[n].describe(), "generator": _provenance(pool.sets[n])} for n in names}},
    }


def _write_new_folder(out: Path, items: list[dict[str, Any]], design: StudyDesign, settings: dict[str, Any],
                      version: str, log: Callable[[str], None]) -> dict[str, Any]:
    """The study written beside ``out`` and renamed into place, so that no half-made study ever has its name."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.creating-", dir=out.parent))
    try:
        summary = _write(tmp, items, design, settings, version, log)
        try:
            os.rename(tmp, out)  # fails if something appeared at `out` meanwhile: never overwrites
        except OSError as exc:
            raise InputError(f"{out} appeared while the study was being made ({exc.strerror}); it was left alone, "
                             "choose another --out") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    summary["folder"] = str(out)
    summary["readers_csv"] = str(out / studydb.READERS_CSV)
    return summary


def _count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def _provenance(images: Any) -> dict[str, Any]:
    from ..evaluation.subjects import generator_provenance

    return generator_provenance(images)


def reader_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/r/{token}/"


def admin_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/admin/{token}/"


def _write(folder: Path, items: list[dict[str, Any]], design: StudyDesign, settings: dict[str, Any], version: str,
           log: Callable[[str], None]) -> dict[str, Any]:
    files = _image_files(items)
    written, sizes = _write_images(folder / studydb.IMAGES_DIR, files, items, design)
    log(f"re-encoded {len(files)} image(s) to {design.size}×{design.size} 8-bit grayscale PNG"
        + ("" if design.compress else " (uncompressed: equal file sizes)"))
    admin_token = secrets.token_urlsafe(32)
    tokens = {r: secrets.token_urlsafe(32) for r in design.readers}
    study_id = secrets.token_hex(8)
    meta = {"format": str(studydb.FORMAT), "cxrgen_bench": version,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "admin_token": admin_token,
            "study_id": study_id, "settings": json.dumps(settings, sort_keys=True, default=str)}
    _write_database(folder / studydb.DB_NAME, items, files, written, meta, tokens, design.seed)
    _write_readers_csv(folder / studydb.READERS_CSV, tokens, design.base_url)
    counts = {"realism": sum(1 for i in items if i["task"] == "realism"),
              "alignment": sum(1 for i in items if i["task"] == "alignment")}
    study = {"format": studydb.FORMAT, "study_id": study_id, "cxrgen_bench": version, "settings": settings,
             "items": counts,
             "note": "the answer key and the readers' links are in study.db and readers.csv (keep them private)"}
    (folder / studydb.STUDY_JSON).write_text(json.dumps(study, indent=2, default=str) + "\n", encoding="utf-8")
    return {"study_id": study_id, "items": counts,
            "readers": {n: reader_url(design.base_url, t) for n, t in tokens.items()},
            "admin": admin_url(design.base_url, admin_token), "file_sizes": _size_summary(sizes), "settings": settings}


def _image_files(items: list[dict[str, Any]]) -> dict[Path, _Image]:
    """Each source file the items show, once, with the random name it is served under."""
    files: dict[Path, _Image] = {}
    for item in items:
        for side in ("a", "b"):
            record = item[side]
            if record is not None and record.path not in files:
                files[record.path] = _Image(record.path)
    return files


def _write_images(images_dir: Path, files: dict[Path, _Image], items: list[dict[str, Any]],
                  design: StudyDesign) -> tuple[dict[str, tuple[str, int]], dict[str, list[int]]]:
    """Every image re-encoded under its name; returns name → (sha256, bytes), and the byte counts of the real
    and the synthetic files."""
    import hashlib

    images_dir.mkdir()
    written: dict[str, tuple[str, int]] = {}
    sizes: dict[str, list[int]] = {"real": [], "synthetic": []}
    real_sources = {item[item["real_image"]].path for item in items if item["real_image"]}
    order = list(files.values())
    for i in np.random.default_rng().permutation(len(order)):  # write order says nothing either
        image = order[i]
        try:
            data = _encode(image.source, design.size, design.compress)
        except InputError as exc:
            raise InputError(f"{exc} (drawn for the study; replace the file or leave its prompt out)") from None
        path = images_dir / image.name
        path.write_bytes(data)
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))
        written[image.name] = (hashlib.sha256(data).hexdigest(), len(data))
        sizes["real" if image.source in real_sources else "synthetic"].append(len(data))
    return written, sizes


def _write_database(path: Path, items: list[dict[str, Any]], files: dict[Path, _Image],
                    written: dict[str, tuple[str, int]], meta: dict[str, str], tokens: dict[str, str],
                    seed: int) -> None:
    """study.db in one transaction, private to its owner: it holds the answer key and the readers' tokens."""
    conn = studydb.connect(path, create=True)
    try:
        conn.executescript("BEGIN;" + studydb.SCHEMA + "COMMIT;")
        with studydb.transaction(conn):
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", sorted(meta.items()))
            conn.executemany("INSERT INTO images (name, sha256, bytes) VALUES (?, ?, ?)",
                             [(n, d, b) for n, (d, b) in sorted(written.items())])
            _insert_items(conn, items, files)
            _insert_readers(conn, items, tokens, seed)
    finally:
        conn.close()
    os.chmod(path, 0o600)


def _insert_items(conn: Any, items: list[dict[str, Any]], files: dict[Path, _Image]) -> None:
    """Each item as readers see it (images by their served names) and, apart, its line of the answer key."""
    for item_id, item in enumerate(items, start=1):
        a, b = item["a"], item["b"]
        conn.execute("INSERT INTO items (id, task, prompt, image_a, image_b) VALUES (?, ?, ?, ?, ?)",
                     (item_id, item["task"], item.get("prompt"), files[a.path].name,
                      files[b.path].name if b is not None else None))
        conn.execute(
            "INSERT INTO answer_key (item_id, unit, prompt_id, generator, finding, real_image, source_a, "
            "source_b, sample_a, sample_b) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (item_id, f"{item['unit']}:{'+'.join(item['slot_prompts'])}", item["prompt_id"],
             item["generator"], item["finding"], item["real_image"], str(a.path),
             str(b.path) if b is not None else None, a.sample_idx, b.sample_idx if b is not None else None))


def _insert_readers(conn: Any, items: list[dict[str, Any]], tokens: dict[str, str], seed: int) -> None:
    """Each reader with every item: the realism block, then alignment, each in the reader's own seeded order,
    and each realism pair swapped left-right or not."""
    for reader_index, (name, token) in enumerate(tokens.items()):
        cursor = conn.execute("INSERT INTO readers (name, token, csrf) VALUES (?, ?, ?)",
                              (name, token, secrets.token_urlsafe(32)))
        reader_id = cursor.lastrowid
        rng = np.random.default_rng([seed, 3, reader_index])
        position = 0
        for task in ("realism", "alignment"):
            ids = [i for i, item in enumerate(items, start=1) if item["task"] == task]
            for j in rng.permutation(len(ids)):
                position += 1
                swap = int(rng.integers(2)) if task == "realism" else 0
                conn.execute("INSERT INTO assignments (public_id, reader_id, item_id, position, swap) "
                             "VALUES (?, ?, ?, ?, ?)",
                             (secrets.token_urlsafe(12), reader_id, ids[j], position, swap))


def _write_readers_csv(path: Path, tokens: dict[str, str], base_url: str) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["reader", "url"])
    for name, token in tokens.items():
        writer.writerow([name, reader_url(base_url, token)])
    path.write_text(buf.getvalue(), encoding="utf-8")
    os.chmod(path, 0o600)  # the links are the readers' passwords


def _size_summary(sizes: dict[str, list[int]]) -> dict[str, Any]:
    """Mean bytes of the real and the synthetic files (what an attentive reader could read off a download)."""
    out: dict[str, Any] = {k: {"n": len(v), "mean_bytes": float(np.mean(v)) if v else None,
                               "min_bytes": min(v) if v else None, "max_bytes": max(v) if v else None}
                           for k, v in sizes.items()}
    if sizes["real"] and sizes["synthetic"]:
        out["mean_difference_bytes"] = float(np.mean(sizes["real"]) - np.mean(sizes["synthetic"]))
    return out
