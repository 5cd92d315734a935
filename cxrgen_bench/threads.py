"""How many threads torch and BLAS use, chosen once per command.

torch starts one intra-op thread per core. On a small machine shared with another busy process that
is oversubscription: every parallel region waits for its slowest thread, which the scheduler has just
handed to the other process, and the demo took 3.9× its quiet time under one busy neighbour.
So the default is the cores this process may run on minus the ones other processes keep busy right
now (the kernel's count of runnable tasks, sampled a few times), at least one; under torchrun, the cores
divided among the node's processes (LOCAL_WORLD_SIZE). `--threads N` or
CXRGEN_THREADS=N fixes it; the choice and its reason are recorded in results (`run.threads`).
"""
from __future__ import annotations

import os
import time
from typing import Any

from .errors import InputError

ENV = "CXRGEN_THREADS"
_chosen: dict[str, Any] = {}


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def busy_elsewhere(samples: int = 5, interval: float = 0.02) -> int:
    """Runnable tasks other than this one (median of a few readings of /proc/loadavg's running count;
    the load averages lag by a minute, this does not). 0 where /proc is missing."""
    counts = []
    for _ in range(samples):
        try:
            running = int(open("/proc/loadavg").read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0
        counts.append(max(0, running - 1))  # this process is one of them
        time.sleep(interval)
    return sorted(counts)[len(counts) // 2]


def choose(requested: int | None = None) -> dict[str, Any]:
    """Set torch's and BLAS's thread counts; returns {"threads", "reason"} (also kept for results)."""
    env = os.environ.get(ENV)
    cores = available_cores()
    if requested is None and env:
        try:
            requested = int(env)
        except ValueError:
            raise InputError(f"{ENV}={env!r} is not a number of threads") from None
    if requested is not None:
        if requested < 1:
            raise InputError(f"threads must be at least 1, not {requested}")
        threads, reason = requested, f"asked for (--threads or {ENV})"
    elif int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1) > 1:  # torchrun's processes on this node share it
        local = int(os.environ["LOCAL_WORLD_SIZE"])
        threads = max(1, cores // local)
        reason = f"{cores} core(s) shared by the {local} processes torchrun started on this node"
    else:
        busy = busy_elsewhere()
        threads = max(1, cores - busy)
        reason = f"{cores} core(s) available, {busy} busy with other processes"
    import torch

    torch.set_num_threads(threads)
    try:  # numpy/scipy BLAS (the Fréchet distance, k-NN): same rule
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:
        pass
    _chosen.clear()
    _chosen.update({"threads": threads, "reason": reason})
    return dict(_chosen)


def chosen() -> dict[str, Any] | None:
    """What `choose` decided in this process (None when nothing chose)."""
    return dict(_chosen) if _chosen else None
