"""A worker killed with items in its queue: once it is replaced, /metrics no longer counts them.

uvicorn's supervisor restarts a dead worker; prometheus-client's multiprocess files of the
dead one stay behind, and its live gauges (``tinyserve_queue_depth``) must leave the sums.
"""

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import httpx
from prometheus_client.mmap_dict import MmapedDict

from tests.servers import running_server

PIXELS = [[(x * y) % 256 for x in range(28)] for y in range(28)]
BODY = {"images": [{"pixels": PIXELS}] * 8}


def workers(server_pid: int) -> set[int]:
    """The supervisor's worker processes (multiprocessing children that run uvicorn)."""
    found = set()
    for child in Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"resource_tracker" not in cmdline:
            found.add(int(child))
    return found


def queued(folder: Path, pid: int) -> float:
    """tinyserve_queue_depth as the worker ``pid`` last wrote it to its multiprocess file."""
    path = folder / f"gauge_livesum_{pid}.db"
    if not path.exists():
        return 0.0
    return sum(
        value
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path))
        if key.startswith('["tinyserve_queue_depth"')
    )


def scraped_queue_depth(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("tinyserve_queue_depth{"))


async def load(base: str, stop: asyncio.Event) -> None:
    """Eight clients with eight images each: with a batch delay the queue is rarely empty."""
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=8)) as client:

        async def one_client() -> None:
            while not stop.is_set():
                with contextlib.suppress(httpx.TransportError):  # the worker on this connection was killed
                    await client.post("/v1/digits/predict", json=BODY)

        await asyncio.gather(*(one_client() for _ in range(8)))


async def kill_a_worker_with_a_queue(base: str, server_pid: int, folder: Path) -> tuple[int, float]:
    stop = asyncio.Event()
    clients = asyncio.create_task(load(base, stop))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            for pid in workers(server_pid):
                if queued(folder, pid) > 0:
                    os.kill(pid, signal.SIGKILL)
                    await asyncio.sleep(0.2)
                    left = queued(folder, pid)  # what the killed worker's file says for ever
                    if left > 0:
                        return pid, left
        raise AssertionError("no worker had a queue to kill it with")
    finally:
        stop.set()
        await clients


async def test_a_killed_workers_queue_depth_leaves_metrics_once_it_is_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    with running_server(
        "--workers",
        "2",
        PROMETHEUS_MULTIPROC_DIR=str(folder),
        TINYSERVE_MAX_BATCH_DELAY_MS="500",  # items wait in the queue for the batch to fill
        TINYSERVE_CPU_AFFINITY="off",
    ) as (base, process):
        killed, left = await kill_a_worker_with_a_queue(base, process.pid, folder)
        assert left > 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the supervisor replaces it
            alive = workers(process.pid)
            if len(alive) == 2 and killed not in alive and httpx.get(f"{base}/health/ready").status_code == 200:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the killed worker was not replaced")
        depth = -1.0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the idle server: nothing is queued anywhere
            depth = scraped_queue_depth(base)
            if depth == 0:
                break
            await asyncio.sleep(0.2)
        assert depth == 0, f"the idle server reports a queue depth of {depth} (the killed worker left {left})"
        response = httpx.post(f"{base}/v1/digits/predict", json=BODY, timeout=30)
        assert response.status_code == 200, response.text
        assert len(response.json()["predictions"]) == 8
        # The new worker may still be tuning its models, which a SIGTERM waits for: longer than running_server does.
        process.send_signal(signal.SIGTERM)
        process.wait(120)
