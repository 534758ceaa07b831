"""Start `tinyserve serve` as a real process on loopback, for tests that need TCP.

The server binds port 0 itself and the test reads the port back from the server's own
"Uvicorn running on http://127.0.0.1:PORT" log line: no port is picked, closed and handed over
(another process could take it meanwhile), and the server that answers is ours by construction.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.paths import MODELS_STORE, PROJECT_ROOT

LISTENING = re.compile(r"Uvicorn running on (http://[\d.]+:\d+|http://\[[\da-f:]+\]:\d+)")


@dataclass
class Server:
    """A started server; unpacks as ``(base, process)``. Its stderr goes to ``log_path``."""

    base: str
    process: subprocess.Popen[bytes]
    log_path: Path
    final_log: str | None = None  # kept once the server has stopped and its folder is gone

    def __iter__(self) -> Iterator[object]:
        return iter((self.base, self.process))

    def log(self) -> str:
        """Everything the server wrote to stderr so far (all of it, once it has stopped)."""
        return self.final_log if self.final_log is not None else self.log_path.read_text(errors="replace")


def free_port() -> int:
    """A port free a moment ago. Racy (another process may take it before it is used): servers of
    ours bind port 0 themselves (``running_server``); this is only for programs that cannot."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(log_path: Path, process: subprocess.Popen[bytes], timeout: float = 60) -> str:
    """The base URL the server logged once it bound its socket."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = LISTENING.search(log_path.read_text(errors="replace"))
        if match:
            return match.group(1)
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"server never said where it listens:\n{log_path.read_text()[-3000:]}")


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Poll ``/health/ready`` until it answers 200, failing at once if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not become ready")


@contextmanager
def started_server(
    command: Sequence[str], env: Mapping[str, str], cwd: Path = PROJECT_ROOT, ready: bool = True
) -> Iterator[Server]:
    """``command`` (a ``serve`` that binds port 0 and logs at info level), started; stopped with SIGTERM."""
    with tempfile.TemporaryDirectory(prefix="tinyserve-server-") as folder:
        log_path = Path(folder) / "stderr.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(list(command), cwd=cwd, env=dict(env), stdout=subprocess.DEVNULL, stderr=log)
        server = None
        try:
            server = Server(wait_listening(log_path, process), process, log_path)
            if ready:
                wait_ready(server.base, process)
            yield server
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
            if server is not None:
                server.final_log = log_path.read_text(errors="replace")


@contextmanager
def running_server(
    *args: str, launcher: tuple[str, ...] = (sys.executable, "-m", "service"), ready: bool = True, **env: str
) -> Iterator[Server]:
    """``<launcher> serve`` on a port of its own choosing; yields it once ``/health/ready`` is 200
    (or as soon as it listens, with ``ready=False``) and stops it with SIGTERM."""
    if env.get("TINYSERVE_LOG_LEVEL", "info") not in ("debug", "info"):
        raise ValueError("running_server reads the port from uvicorn's info line: keep TINYSERVE_LOG_LEVEL info")
    environment = {
        **os.environ,
        "TINYSERVE_MODEL_STORE": str(MODELS_STORE),
        "TINYSERVE_ACCESS_LOG": "false",
        **env,
    }
    command = [*launcher, "serve", "--host", "127.0.0.1", "--port", "0", *args]
    with started_server(command, environment, ready=ready) as server:
        yield server
