"""The generation harness: prompts × samples → a folder of images plus a validated manifest.

Safe to kill at any moment and re-run: every image is written atomically; each finished batch is
appended (with the images' sha256) to a journal that is flushed to disk; a re-run verifies the
journalled files against their hashes and generates only what is missing or damaged. Because each
image's noise depends only on (seed, prompt id, sample index), the re-run produces exactly the files
of an uninterrupted run, whatever the batch size or number of processes.

Several processes (GPUs, nodes) share the work by prompt: started by `torchrun` or
`accelerate launch`, each rank takes the prompts whose index ≡ rank (mod world size); rank 0 merges
the journals into `manifest.csv` after all ranks are done. A resumed run may use another number of
processes: the journals of all earlier ranks are read.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from PIL import Image

from .. import workdir
from ..files import atomic_write_bytes, atomic_write_text
from ..progress import Progress
from ..data.images import file_matches_sha256
from ..data.manifest import PromptSet, content_sha256
from ..errors import CxrgenError
from .protocol import GenerationSettings, Generator, SampleRequest, sample_seed, to_uint8

JOURNAL_DIR = ".journal"
LOCK_DIR = ".locks"
JOURNAL_FIELDS = ("prompt_id", "sample_idx", "path", "sha256")


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world: int = 1

    def owns(self, prompt_index: int) -> bool:
        return prompt_index % self.world == self.rank


def distributed_shard() -> Shard:
    """This process's shard, from the variables torchrun / accelerate launch set (one shard otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Shard()
    import torch.distributed as dist

    if not dist.is_initialized():
        import torch

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Shard(dist.get_rank(), dist.get_world_size())


def _barrier(shard: Shard) -> None:
    if shard.world > 1:
        import torch.distributed as dist

        dist.barrier()


def safe_stem(prompt_id: str) -> str:
    """A file-name-safe form of a prompt id; ids that need changing get a short hash to stay unique."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,150}", prompt_id):
        return prompt_id
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", prompt_id).strip("-.")[:100] or "prompt"
    return f"{cleaned}-{hashlib.sha256(prompt_id.encode()).hexdigest()[:8]}"


def requests_for(prompts: PromptSet, settings: GenerationSettings) -> list[list[SampleRequest]]:
    """All sample requests, grouped per prompt, in prompt-id order."""
    return [[SampleRequest(pid, p.text, k, sample_seed(settings.seed, pid, k), p.labels)
             for k in range(settings.samples_per_prompt)] for pid, p in sorted(prompts.prompts.items())]


class OutputFolder:
    def __init__(self, root: Path, shard: Shard):
        self.root = root
        self.shard = shard
        self.journal_path = root / JOURNAL_DIR / f"rank{shard.rank}-of{shard.world}.csv"
        self._lock_handle: Any = None
        # (file → sha256) already verified or written during this run: not read and hashed again
        self._known: dict[str, str] = {}

    def lock(self) -> None:
        self._lock_handle = workdir.lock(self.root / LOCK_DIR / f"rank{self.shard.rank}-of{self.shard.world}.lock",
                                         self.root, "generation run")

    def unlock(self) -> None:
        workdir.unlock(self._lock_handle)
        self._lock_handle = None

    def check_run_settings(self, identity: dict[str, Any]) -> None:
        """Refuse to mix images of different settings in one folder (rank 0 records them)."""
        workdir.check_identity(self.root / "run.json", identity, "images", write=self.shard.rank == 0)

    def journalled(self) -> dict[tuple[str, int], tuple[str, str]]:
        """(prompt id, sample) → (file, sha256) for every journal line whose file is intact."""
        done: dict[tuple[str, int], tuple[str, str]] = {}
        for journal in sorted((self.root / JOURNAL_DIR).glob("*.csv")):
            with open(journal, newline="", encoding="utf-8") as f:
                for row in csv.reader(f):
                    if len(row) != len(JOURNAL_FIELDS) or not row[1].isdigit():
                        continue  # a line cut by a kill: its image is regenerated
                    pid, k, rel, digest = row[0], int(row[1]), row[2], row[3]
                    file = self.root / rel
                    if not file.is_file():
                        continue
                    if self._known.get(rel) != digest:
                        if not file_matches_sha256(file, digest):
                            continue  # damaged, or a stale line of a regenerated image
                        self._known[rel] = digest
                    done[(pid, k)] = (rel, digest)
        return done

    def append(self, rows: Sequence[tuple[str, int, str, str]]) -> None:
        self.journal_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.journal_path, "a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
            f.flush()
            os.fsync(f.fileno())
        self._known.update({rel: digest for _, _, rel, digest in rows})

    def remove_temporaries(self) -> None:
        for tmp in self.root.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)


def encode_png(pixels: Any, where: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(to_uint8(pixels, where)).save(buf, format="PNG")
    return buf.getvalue()


def _write_batch(folder: OutputFolder, batch: Sequence[SampleRequest], images: Sequence[Any], bar: Progress) -> None:
    rows = []
    for request, image in zip(batch, images):
        rel = f"{safe_stem(request.prompt_id)}_{request.sample_idx}.png"
        data = encode_png(image, f"prompt {request.prompt_id} sample {request.sample_idx}")
        atomic_write_bytes(folder.root / rel, data)
        rows.append((request.prompt_id, request.sample_idx, rel, hashlib.sha256(data).hexdigest()))
    folder.append(rows)  # only after the batch's files are complete on disk
    bar.update(len(batch))


def run_generation(generator: Generator, prompts: PromptSet, out: str | Path, settings: GenerationSettings,
                   shard: Shard | None = None, progress: bool = True,
                   after_batch: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Generate every missing image of this shard, then (rank 0) write and validate the manifest."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    shard = shard or distributed_shard()
    folder = OutputFolder(root, shard)
    folder.lock()
    started = time.monotonic()
    identity = {"generator": generator.name, "model": str(generator.model), "weights_sha256": generator.weights_sha256(),
                "prompts_sha256": prompts.sha256, "settings": settings.image_defining()}
    try:
        # Rank 0 alone removes a killed run's temporaries and writes run.json, before any rank writes:
        # a rank cleaning while another writes would delete the other's in-flight files.
        if shard.rank == 0:
            folder.remove_temporaries()
            folder.check_run_settings(identity)
        _barrier(shard)
        if shard.rank != 0:
            folder.check_run_settings(identity)
        groups = requests_for(prompts, settings)
        mine = [r for i, group in enumerate(groups) if shard.owns(i) for r in group]
        done = folder.journalled()
        todo = [r for r in mine if (r.prompt_id, r.sample_idx) not in done]
        bar = Progress(len(mine), f"generate ({generator.name}, rank {shard.rank})", "images",
                       enabled=progress, initial=len(mine) - len(todo))
        # PNG encoding, hashing and the fsynced journal line of batch n run in a writer thread while the
        # generator makes batch n+1 (zlib, sha256 and file writes release the GIL): on a GPU the device
        # never waits for them. At most one batch is in flight, so the journal keeps its order, a
        # writer error stops the run at the next batch, and a kill loses at most two batches.
        with ThreadPoolExecutor(max_workers=1) as writer:
            pending: Future | None = None
            try:
                for n, start in enumerate(range(0, len(todo), settings.batch_size)):
                    batch = todo[start:start + settings.batch_size]
                    images = generator.generate(batch)
                    if len(images) != len(batch):
                        raise CxrgenError(f"generator {generator.name} returned {len(images)} images "
                                          f"for {len(batch)} requests")
                    if pending is not None:
                        pending.result()
                    pending = writer.submit(_write_batch, folder, batch, images, bar)
                    if after_batch:  # batch n is being written; its journal line follows its files
                        after_batch(n)
            except BaseException:
                # The first error is the one to report; the batch in flight is still written (or,
                # if writing fails too, regenerated by the next run).
                if pending is not None:
                    pending.exception()  # waits for it without raising its own, secondary, error
                raise
            if pending is not None:
                pending.result()
        rate = bar.rate()
        bar.close()
    finally:
        folder.unlock()
    _barrier(shard)
    summary = {"generated": len(todo), "resumed": len(mine) - len(todo), "images_per_s": rate,
               "seconds": round(time.monotonic() - started, 2), "rank": shard.rank, "world": shard.world}
    if shard.rank == 0:
        summary["manifest"] = str(write_manifest(folder, prompts, settings, generator, summary))
    _barrier(shard)
    return summary


def write_manifest(folder: OutputFolder, prompts: PromptSet, settings: GenerationSettings, generator: Generator,
                   summary: dict[str, Any]) -> Path:
    """Merge all journals into manifest.csv, after checking every prompt × sample is there exactly once.
    Files this process verified or wrote during the run are not hashed again."""
    root = folder.root
    done = folder.journalled()
    expected = [(r.prompt_id, r.sample_idx) for group in requests_for(prompts, settings) for r in group]
    missing = [key for key in expected if key not in done]
    if missing:
        raise CxrgenError(f"{root}: {len(missing)} image(s) missing after generation, e.g. prompt {missing[0][0]} "
                          f"sample {missing[0][1]}; re-run the same command to finish them")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["prompt_id", "sample_idx", "path", "sha256", "prompt"])
    for pid, k in expected:
        rel, digest = done[(pid, k)]
        writer.writerow([pid, k, rel, digest, prompts.prompts[pid].text])
    manifest = root / "manifest.csv"
    atomic_write_text(manifest, buf.getvalue())
    # The images' content hash (as ImageSet computes it) lets `score` tie these records to the images it scores.
    content = content_sha256((pid, k, done[(pid, k)][1]) for pid, k in expected)
    atomic_write_text(root / "generation.json", json.dumps(
        {"generator": generator.describe(), "prompts": prompts.describe(), "images": len(expected),
         "images_content_sha256": content, "settings": asdict(settings), "last_run": summary},
        indent=2, sort_keys=True, default=str) + "\n")
    return manifest
