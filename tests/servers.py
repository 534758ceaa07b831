"""Start `tinyserve serve` as a real process on a free loopback port, for tests that need TCP."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

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


@contextmanager
def running_server(
    *args: str, launcher: tuple[str, ...] = (sys.executable, "-m", "service"), **env: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``<launcher> serve`` on a free port; yields (base URL, process) and stops it with SIGTERM."""
    port = free_port()
    environment = {
        **os.environ,
        "TINYSERVE_MODEL_STORE": str(MODELS_STORE),
        "TINYSERVE_ACCESS_LOG": "false",
        **env,
    }
    command = [*launcher, "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        if process.stderr is not None:
            process.stderr.close()
