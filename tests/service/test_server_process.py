"""`tinyserve serve` as a real process on a loopback port, talked to over TCP with httpx."""

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.types import Message

from service.app import create_app
from service.logs import JSONFormatter
from tests.paths import PROJECT_ROOT
from tests.servers import running_server
from tests.service.conftest import make_settings, running_app, server_timing


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server() as (base, _):
        yield base


def test_real_server_answers_over_tcp(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        assert client.get("/health/live").json() == {"status": "alive"}
        names = client.post("/v1/names/predict", json={"names": ["Nakamura"]})
        assert names.status_code == 200
        assert names.json()["predictions"][0]["country"] == "Japanese"
        assert "x-request-id" in names.headers
        missing = client.get("/v1/models/none")
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "model_not_found"


def test_a_lone_connection_skips_the_batcher_until_a_second_one_opens(server: str) -> None:
    """One open connection means one request in flight: its forward runs inline (no queue time).
    While another connection is open, requests go through the batcher thread again."""
    body = {"names": ["Rossi", "Nakamura"]}
    with httpx.Client(base_url=server, timeout=10) as lone:
        alone = [lone.post("/v1/names/predict", json=body) for _ in range(3)]
        with httpx.Client(base_url=server, timeout=10) as other:
            assert other.get("/health/live").status_code == 200  # its connection stays open (keep-alive)
            shared = [lone.post("/v1/names/predict", json=body) for _ in range(3)]
    # Server-Timing's queue time is 0 exactly when the forward ran on the event loop.
    assert [float(server_timing(r)["queue"]) for r in alone] == [0.0] * 3
    assert all(float(server_timing(r)["queue"]) > 0 for r in shared)
    assert {json.dumps(r.json()["predictions"]) for r in alone + shared} == {json.dumps(alone[0].json()["predictions"])}


def test_idle_connections_close_after_the_keep_alive_time() -> None:
    with running_server(TINYSERVE_KEEP_ALIVE_S="1") as (base, _):
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: tinyserve\r\n\r\n")
            response = b""
            while not response.endswith(b'{"status":"alive"}'):  # headers and body may come apart
                response += connection.recv(4096)
            assert response.startswith(b"HTTP/1.1 200")
            started = time.monotonic()
            assert connection.recv(4096) == b""  # the server closed the idle connection
            assert 0.5 < time.monotonic() - started < 4


def test_two_workers_share_metrics_and_clean_up(tmp_path: Path) -> None:
    """From the first ready answer on, every worker answers (a worker accepts connections only once its
    models are loaded); /metrics sums them (multiprocess mode); each worker runs on a CPU of its own;
    the metrics and CPU slot folders go away on exit."""
    cpus = sorted(os.sched_getaffinity(0))
    affinity = "on" if len(cpus) >= 2 else "off"
    with running_server("--workers", "2", TMPDIR=str(tmp_path), TINYSERVE_CPU_AFFINITY=affinity) as (base, process):
        # A new connection per request, so the kernel hands them to whichever worker accepts.
        ok = [httpx.post(f"{base}/v1/names/predict", json={"names": ["Rossi"]}).status_code for _ in range(40)]
        assert ok == [200] * 40
        with httpx.Client(base_url=base, timeout=10) as client:
            text = client.get("/metrics").text
        line = next(x for x in text.splitlines() if x.startswith('tinyserve_requests_total{method="POST"'))
        assert float(line.rsplit(" ", 1)[1]) == 40.0
        assert list(tmp_path.glob("tinyserve-metrics-*")) and list(tmp_path.glob("tinyserve-cpus-*"))
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        workers = [pid for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        pinned = sorted(sorted(os.sched_getaffinity(int(pid))) for pid in workers)
        assert pinned == ([[cpus[0]], [cpus[1]]] if affinity == "on" else [cpus, cpus])
    assert process.returncode == 0
    assert not list(tmp_path.glob("tinyserve-metrics-*")) and not list(tmp_path.glob("tinyserve-cpus-*"))


@pytest.mark.asyncio
async def test_client_disconnect_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(make_settings(models=["names-gru"]))
    messages: list[Message] = [
        {"type": "http.request", "body": b'{"names": [', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        pass

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/names/predict",
        "raw_path": b"/v1/names/predict",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "app": app,
    }
    service_logger = logging.getLogger("tinyserve")  # does not propagate to the root logger caplog watches
    service_logger.addHandler(caplog.handler)
    try:
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)
    finally:
        service_logger.removeHandler(caplog.handler)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_example_client_runs_against_a_real_server(server: str) -> None:
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "examples" / "client.py"), server],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "ready: ready" in result.stdout
    assert "digit: 7" in result.stdout  # the example draws a seven
    assert "Nakamura: Japanese" in result.stdout


@pytest.mark.asyncio
async def test_one_json_access_log_line_per_request(caplog: pytest.LogCaptureFixture) -> None:
    access = logging.getLogger("tinyserve.access")
    access.addHandler(caplog.handler)  # the service's loggers do not propagate to the root
    try:
        async with running_app(make_settings(models=["names-gru"], access_log=True)) as (_, client):
            response = await client.post(
                "/v1/names/predict", json={"names": ["Rossi"]}, headers={"X-Request-ID": "r-1"}
            )
            await client.get("/nope")
    finally:
        access.removeHandler(caplog.handler)
    lines = [json.loads(JSONFormatter().format(record)) for record in caplog.records if record.name == access.name]
    predict = next(line for line in lines if line["request_id"] == "r-1")
    assert response.status_code == 200
    assert predict["route"] == "/v1/names/predict" and predict["status"] == 200 and predict["method"] == "POST"
    assert predict["model"] == "names-gru" and predict["batch_size"] == 1 and predict["latency_ms"] > 0
    assert any(line["route"] == "unmatched" and line["status"] == 404 for line in lines)
