"""Workers claim CPU slots through lock files; each pinned process runs on its slot's CPUs only."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from service.affinity import SLOTS_FOLDER_ENV, CpuAffinity, pin_this_worker, should_pin
from tests.paths import PROJECT_ROOT

CPUS = len(os.sched_getaffinity(0))

# A stand-in worker: claims a slot, starts a thread afterwards, reports both affinities, then
# holds its slot until its stdin closes.
WORKER = """
import json, os, sys, threading
from service.affinity import pin_this_worker
pinned = pin_this_worker(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
seen = []
thread = threading.Thread(target=lambda: seen.append(sorted(os.sched_getaffinity(0))))
thread.start()
thread.join()
claimed = sorted(pinned) if pinned is not None else None
print(json.dumps([claimed, sorted(os.sched_getaffinity(0)), seen[0]]), flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize(
    ("mode", "workers", "threads", "cpus", "pins"),
    [
        ("auto", 2, 1, 2, True),
        ("auto", 2, 2, 4, True),
        ("auto", 2, 1, 16, False),  # spare CPUs: the scheduler may move a worker off a busy one
        ("auto", 1, 1, 1, False),  # one worker is never pinned
        ("on", 2, 1, 16, True),
        ("on", 4, 2, 4, False),  # too few CPUs for the threads
        ("on", 1, 1, 4, False),
        ("off", 2, 1, 2, False),
    ],
)
def test_should_pin(mode: CpuAffinity, workers: int, threads: int, cpus: int, pins: bool) -> None:
    assert should_pin(mode, workers, threads, cpus) is pins


def test_without_the_slots_folder_nothing_is_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SLOTS_FOLDER_ENV, raising=False)
    before = os.sched_getaffinity(0)
    assert pin_this_worker("on", 2, 1) is None
    assert os.sched_getaffinity(0) == before


@contextmanager
def worker(folder: Path, mode: str, workers: int, threads: int = 1) -> Iterator[list[object]]:
    """A stand-in worker process; yields what it reported: [claimed CPUs, its affinity, a later thread's]."""
    env = {**os.environ, SLOTS_FOLDER_ENV: str(folder), "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, "-c", WORKER, mode, str(workers), str(threads)]
    process = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdin is not None
    try:
        yield json.loads(process.stdout.readline())
    finally:
        process.stdin.close()
        process.wait(10)
        process.stdout.close()


@pytest.mark.skipif(CPUS < 2, reason="needs two CPUs")
def test_workers_claim_distinct_cpus_and_a_restarted_worker_reclaims_its_slot(tmp_path: Path) -> None:
    first_cpu, second_cpu = sorted(os.sched_getaffinity(0))[:2]
    with worker(tmp_path, "on", 2) as first:
        assert first == [[first_cpu], [first_cpu], [first_cpu]]  # threads started later inherit the CPU
        with worker(tmp_path, "on", 2) as second:
            assert second == [[second_cpu], [second_cpu], [second_cpu]]
            with worker(tmp_path, "on", 2) as third:  # more workers than slots: left free
                assert third[0] is None and third[1] == sorted(os.sched_getaffinity(0))
    with worker(tmp_path, "on", 2) as restarted:  # the locks died with their processes
        assert restarted[0] == [first_cpu]


@pytest.mark.skipif(CPUS < 2, reason="needs two CPUs")
def test_a_slot_holds_torch_threads_cpus(tmp_path: Path) -> None:
    with worker(tmp_path, "on", 1, 2) as alone:  # one worker: never pinned
        assert alone[0] is None
    with worker(tmp_path, "on", 2, CPUS // 2) as first:
        assert first[0] == sorted(os.sched_getaffinity(0))[: CPUS // 2]
