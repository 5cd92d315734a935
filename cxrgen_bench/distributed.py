"""The processes of a run started by torchrun (or `accelerate launch`, or srun starting torchrun): who this
process is, how work is split among the processes, and the few collectives scoring needs.

Work is split by content, never by position: the distinct keys (image sha256s) are sorted and cut into
contiguous runs of near-equal length, one per rank, so every rank computes the same split on its own, no
key is computed twice and no rank is padded with repeated samples (DistributedSampler's padding,
pytorch #25162, would count an image twice in a statistic).

Objects travel over gloo (a gloo group beside an nccl one that generation started): what is sent is a
few statistics and feature rows, and gloo needs no device to be chosen for pickled objects.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterator, Sequence, TypeVar

from .environment import environ
from .errors import CxrgenError, InputError

T = TypeVar("T")
TIMEOUT_ENV = "CXRGEN_DIST_TIMEOUT"  # seconds a rank waits for the others (default 1,800)


class ShardFailed(CxrgenError):
    """One or more ranks could not do their share; each rank raises it with every rank's reason."""


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def root(self) -> bool:
        return self.rank == 0

    def __str__(self) -> str:
        return f"rank {self.rank} of {self.size}"


def world() -> World:
    """This process's place under torchrun / accelerate launch (RANK, WORLD_SIZE), else rank 0 of 1."""
    try:
        rank, size = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise InputError("RANK and WORLD_SIZE must be integers (set by torchrun / accelerate launch)") from None
    if size < 1 or not 0 <= rank < size:
        raise InputError(f"RANK={rank} is not in 0..WORLD_SIZE-1 (WORLD_SIZE={size})")
    return World(rank, size)


def share(keys: Sequence[T], rank: int, size: int) -> list[T]:
    """This rank's contiguous run of the sorted distinct ``keys``: sizes differ by at most one."""
    distinct = sorted(set(keys))
    base, extra = divmod(len(distinct), size)
    start = rank * base + min(rank, extra)
    return distinct[start:start + base + (1 if rank < extra else 0)]


_GROUP: Any = None  # the gloo group objects travel in, while a process group is up


@contextmanager
def alone() -> Iterator[None]:
    """The block runs as a process of its own (rank 0 of 1) for generation, scoring and `world`: a sweep's
    processes share whole checkpoints, so none may wait for the others inside one (they are busy with theirs)."""
    with environ({"RANK": "0", "WORLD_SIZE": "1"}):
        yield


@contextmanager
def process_group(device: str = "cpu") -> Iterator[World]:
    """Join the other processes of the run for the block (a no-op for one process) over gloo, on CPU and GPU
    alike (NCCL would refuse two ranks on one GPU, and nothing here is a tensor collective); with a CUDA
    device each rank takes GPU LOCAL_RANK mod the GPUs it sees. torchrun's rendezvous (MASTER_ADDR,
    MASTER_PORT) is read from the environment; a group already started (by generation) is joined."""
    global _GROUP
    here = world()
    if here.size == 1:
        yield here
        return
    import torch
    import torch.distributed as dist

    started = not dist.is_initialized()
    timeout = timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, "1800")))
    if device.startswith("cuda") and torch.cuda.is_available():  # "cuda" means this rank's device from here on
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    if started:  # only objects travel (no tensor collectives), so gloo serves GPUs too, several ranks per GPU included
        dist.init_process_group(backend="gloo", timeout=timeout)
    _GROUP = dist.new_group(backend="gloo", timeout=timeout) if dist.get_backend() != "gloo" else dist.group.WORLD
    try:
        yield here
    finally:
        _GROUP = None
        if started:
            dist.destroy_process_group()


def active() -> bool:
    return _GROUP is not None


@contextmanager
def _collective(what: str) -> Iterator[None]:
    """A collective that fails because another process is gone (killed, out of memory, a node lost) is said
    as such, not as the backend's traceback; torchrun then stops the rest and names the rank that died."""
    try:
        yield
    except RuntimeError as exc:  # gloo and nccl raise RuntimeError (DistBackendError) for a lost peer
        raise ShardFailed(f"{world()} lost the other processes during {what} (one died or timed out after "
                          f"{TIMEOUT_ENV}={os.environ.get(TIMEOUT_ENV, '1800')} s): {exc}. Nothing was written; "
                          "what the processes finished is in the cache and a re-run reuses it.") from None


def gather(obj: T) -> list[T] | None:
    """Every rank's ``obj`` on rank 0 (in rank order), None elsewhere; [obj] for one process."""
    if not active():
        return [obj]
    import torch.distributed as dist

    out: list[Any] | None = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    with _collective("a gather"):
        dist.gather_object(obj, out, dst=0, group=_GROUP)
    return out


def broadcast(obj: T) -> T:
    """Rank 0's ``obj`` on every rank."""
    if not active():
        return obj
    import torch.distributed as dist

    box = [obj]
    with _collective("a broadcast"):
        dist.broadcast_object_list(box, src=0, group=_GROUP)
    return box[0]


def agree(failure: str | None) -> None:
    """Every rank says whether its share failed; if any did, every rank raises `ShardFailed` naming each
    failed rank and its reason (so rank 0 reports it and nothing is written)."""
    if not active():
        if failure:
            raise ShardFailed(failure)
        return
    import torch.distributed as dist

    failures: list[Any] = [None] * dist.get_world_size()
    with _collective("the check that every share is done"):
        dist.all_gather_object(failures, failure, group=_GROUP)
    said = [f"rank {r}: {f}" for r, f in enumerate(failures) if f]
    if said:
        raise ShardFailed("the run's processes could not all do their share; nothing was written. "
                          + "; ".join(said) + ". What they finished is in the cache: a re-run reuses it.")
