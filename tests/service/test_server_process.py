"""`tinyserve serve` as a real process on a loopback port, talked to over TCP with httpx."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.paths import MODELS_STORE, PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become ready")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "TINYSERVE_MODEL_STORE": str(MODELS_STORE), "TINYSERVE_ACCESS_LOG": "false"}
    command = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def test_real_server_answers_over_tcp(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        assert client.get("/health/live").json() == {"status": "alive"}
        names = client.post("/v1/names/predict", json={"names": ["Nakamura"]})
        assert names.status_code == 200
        assert names.json()["predictions"][0]["country"] == "Japanese"
        assert "x-request-id" in names.headers
        missing = client.get("/v1/models/none")
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "model_not_found"
