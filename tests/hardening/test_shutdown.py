"""Graceful shutdown: on SIGTERM the server stops accepting, answers every request it has, exits 0."""

import asyncio
import re
import signal
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.hardening import tally
from tests.hardening.conftest import Reference
from tests.servers import Server, running_server

IN_FLIGHT = 40
FORWARD_SECONDS = 0.25  # per batch of at most 4: the 40 requests need ~2.5 s after SIGTERM


@pytest.fixture
def slow_server() -> Iterator[Server]:
    launcher = (sys.executable, "-m", "tests.hardening.slow_server", str(FORWARD_SECONDS))
    settings = {"TINYSERVE_MODELS": "digits-cnn", "TINYSERVE_MAX_BATCH_SIZE": "4"}
    with running_server(launcher=launcher, **settings) as server:
        yield server


async def queued_items(client: httpx.AsyncClient) -> float:
    metrics = (await client.get("/metrics")).text
    match = re.search(r'^tinyserve_queue_depth\{model="digits-cnn"\} (\S+)$', metrics, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def refuses_new_connections(base: str, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient(base_url=base) as fresh:
        while time.monotonic() < deadline:
            try:
                await fresh.get("/health/live", headers={"connection": "close"})
            except httpx.ConnectError:
                return True
            await asyncio.sleep(0.02)
    return False


async def test_sigterm_drains_every_request_in_flight_then_exits_0(slow_server: Server, reference: Reference) -> None:
    base, process = slow_server.base, slow_server.process
    digits = [reference.digits[i % len(reference.digits)] for i in range(IN_FLIGHT)]
    limits = httpx.Limits(max_connections=IN_FLIGHT + 1)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        in_flight = [
            asyncio.create_task(
                client.post("/v1/digits/predict", json={"images": [{"pixels": pixels.tolist()}], "top_k": 1})
            )
            for pixels, _ in digits
        ]
        deadline = time.monotonic() + 30
        while await queued_items(client) < IN_FLIGHT / 2:  # most are waiting in the model's queue
            assert time.monotonic() < deadline, "the requests never queued up"
            await asyncio.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()

        # the listening socket closes while the requests in flight still run
        assert await refuses_new_connections(base, within_s=10), "still accepting connections after SIGTERM"

        responses = await asyncio.gather(*in_flight)
    drained = time.monotonic() - signalled
    exit_code = await asyncio.to_thread(process.wait, 30)
    log = slow_server.log()

    for response in responses:
        tally.record("shutdown: requests in flight at SIGTERM", response.status_code)
    print(f"SIGTERM with {IN_FLIGHT} requests in flight: drained in {drained:.2f} s, exit code {exit_code}")
    assert [r.status_code for r in responses] == [200] * IN_FLIGHT
    assert [r.json()["predictions"][0]["digit"] for r in responses] == [label for _, label in digits]
    assert exit_code == 0, log[-2000:]
    assert "Application shutdown complete" in log
