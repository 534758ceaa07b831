"""Each worker process on CPUs of its own (``TINYSERVE_CPU_AFFINITY``).

With as many workers as CPUs the kernel still moves each worker's threads between CPUs as load
shifts, and every move costs the worker its warm caches. A pinned worker keeps them, and serves
more requests with lower tail latency (bench/README.md has the measurements). uvicorn gives its
workers no index, so each claims the first free slot (``torch_threads`` CPUs) by locking a file
per slot in a folder the parent process made; the lock dies with the process, so a restarted
worker takes the slot its predecessor left.
"""

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import Literal

logger = logging.getLogger("tinyserve.affinity")

CpuAffinity = Literal["auto", "on", "off"]
SLOTS_FOLDER_ENV = "TINYSERVE_CPU_SLOTS_FOLDER"  # set by ``tinyserve serve`` for its workers

_held: list[int] = []  # the claimed slot's lock, open for the life of the process


def should_pin(mode: CpuAffinity, workers: int, threads: int, cpus: int) -> bool:
    """``auto`` pins only when the workers' torch threads match the CPUs this process may use one to
    one (a machine or container sized for them); on a shared host with spare CPUs the scheduler's
    freedom to move a worker off a busy CPU is worth more. ``on`` pins whenever the CPUs suffice."""
    if mode == "off" or workers == 1:
        return False
    return workers * threads == cpus if mode == "auto" else workers * threads <= cpus


def pin_this_worker(mode: CpuAffinity, workers: int, threads: int) -> set[int] | None:
    """Pin every thread of this process to the first unclaimed slot of ``threads`` CPUs; returns
    those CPUs, or None where it pins nothing.

    Call it before the process starts threads of its own: threads started later inherit the CPUs.
    """
    folder = os.environ.get(SLOTS_FOLDER_ENV)
    if folder is None or not hasattr(os, "sched_setaffinity"):  # Linux only
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if not should_pin(mode, workers, threads, len(cpus)):
        return None
    for slot in range(workers):
        descriptor = os.open(Path(folder) / f"slot-{slot}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            continue
        _held.append(descriptor)
        mine = set(cpus[slot * threads : (slot + 1) * threads])
        for thread in os.listdir("/proc/self/task"):  # sched_setaffinity(0) would pin the calling thread only
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                os.sched_setaffinity(int(thread), mine)
        logger.info("worker %d pinned to CPUs %s", os.getpid(), sorted(mine))
        return mine
    return None
