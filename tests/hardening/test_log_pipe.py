"""Two workers share one stderr pipe: no log line is torn, and a stalled reader never stops requests."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.paths import MODELS_STORE, PROJECT_ROOT
from tests.servers import free_port, wait_ready

UVICORN_LINE = re.compile(rb"^(DEBUG|INFO|WARNING|ERROR|CRITICAL): ")  # uvicorn's own logger, plain text
JSON_KEYS = {"ts", "level", "logger", "message"}
SENT_ROUTES = {"/health/live", "/health/ready", "/metrics"}  # the test's requests, and waiting for the server


class StderrReader:
    """Reads the server's stderr on a thread, at most ``bytes_per_s`` (None: as fast as it comes); ``paused``
    stops reading altogether."""

    def __init__(self, process: subprocess.Popen[bytes], bytes_per_s: float | None) -> None:
        assert process.stderr is not None
        self.fd = process.stderr.fileno()
        self.bytes_per_s = bytes_per_s
        self.data = bytearray()
        self.paused = threading.Event()
        self.resumed = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            if self.paused.is_set():
                self.resumed.wait()
            chunk = os.read(self.fd, 4096)
            if not chunk:
                return
            self.data += chunk
            if self.bytes_per_s:
                time.sleep(len(chunk) / self.bytes_per_s)

    def lines(self) -> int:
        return self.data.count(b"\n")


@contextmanager
def two_workers(bytes_per_s: float | None) -> Iterator[tuple[str, StderrReader]]:
    port = free_port()
    environment = {
        **os.environ,
        "TINYSERVE_MODEL_STORE": str(MODELS_STORE),
        "TINYSERVE_ACCESS_LOG": "true",
        "TINYSERVE_CPU_AFFINITY": "off",
    }
    command = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    reader = StderrReader(process, bytes_per_s)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process, timeout=120)
        yield base, reader
    finally:
        reader.bytes_per_s = None  # read the rest at full speed, so that nothing waits on the pipe
        reader.resumed.set()
        reader.paused.clear()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(120)
        reader.thread.join(30)
        assert process.stderr is not None
        process.stderr.close()


async def send(base: str, enough: asyncio.Event | None, count: int, clients: int) -> list[int]:
    """GET /health/live from ``clients`` clients until ``count`` are sent or ``enough`` is set. Each request
    on a new connection: the workers take turns accepting them, so both write log lines."""
    statuses: list[int] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=10, limits=limits) as client:

        async def one_client() -> None:
            while len(statuses) < count and not (enough and enough.is_set()):
                statuses.append((await client.get("/health/live")).status_code)

        await asyncio.gather(*(one_client() for _ in range(clients)))
    return statuses


def torn(data: bytes) -> list[bytes]:
    """Lines that are neither one whole JSON log line nor one of uvicorn's plain-text lines."""
    bad = []
    for line in data.splitlines():
        if UVICORN_LINE.match(line):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if not (isinstance(entry, dict) and entry.keys() >= JSON_KEYS and entry["logger"].startswith("tinyserve.")):
            bad.append(line)
        elif entry["logger"] == "tinyserve.access" and entry.get("route") not in SENT_ROUTES:
            bad.append(line)  # spliced from two lines into valid JSON with wrong fields
    return bad


async def test_two_workers_behind_a_slow_reader_write_no_torn_line() -> None:
    with two_workers(bytes_per_s=100_000) as (base, reader):
        enough = asyncio.Event()

        async def watch() -> None:
            deadline = time.monotonic() + 180
            while reader.lines() < 10_500 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            enough.set()

        watcher = asyncio.create_task(watch())
        statuses = await send(base, enough, count=1_000_000, clients=32)
        await watcher
        assert set(statuses) == {200}
    data = bytes(reader.data)
    access = data.count(b'"logger":"tinyserve.access"')
    bad, total = torn(data), data.count(b"\n")
    assert access >= 10_000, f"only {access} access lines were read"
    assert not bad, f"{len(bad)} torn lines of {total}, e.g. {bad[:3]}"


async def test_requests_are_answered_while_the_log_reader_is_stopped() -> None:
    with two_workers(bytes_per_s=None) as (base, reader):
        reader.paused.set()  # the pipe fills (64 KiB) after a few hundred lines
        statuses = await asyncio.wait_for(send(base, None, count=3000, clients=8), timeout=120)
        assert len(statuses) >= 3000 and set(statuses) == {200}
        metrics = httpx.get(f"{base}/metrics", timeout=10)
        assert metrics.status_code == 200
        assert "tinyserve_log_lines_dropped_total" in metrics.text
