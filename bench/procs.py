"""The server processes this harness starts: launch, readiness, process tree, CPU, memory, stop.

Every server runs in its own session (process group), so stopping it reaches its workers and
nothing else: only processes started here are ever signalled.
"""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session, stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"\n==== {time.ctime()} {' '.join(argv)}\n".encode())
        log.flush()
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            status: int = reply.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float, poll_s: float = 0.02) -> float:
    """Seconds from now until ``url`` answers 200; raises if the process exits or time runs out."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with code {proc.returncode} before it was ready")
        if http_status(url, timeout=1.0) == 200:
            return time.perf_counter() - started
        time.sleep(poll_s)
    raise RuntimeError(f"not ready after {timeout_s:.0f} s")


def wait_optimised(ready_url: str, proc: subprocess.Popen[bytes], timeout_s: float, poll_s: float = 0.05) -> float:
    """Seconds from now until tinyserve's readiness says ``optimised`` (its graphs traced and kernels timed,
    in the background after readiness); raises if the process exits or time runs out."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with code {proc.returncode} before its graphs were optimised")
        with (
            contextlib.suppress(urllib.error.URLError, OSError, ValueError),
            urllib.request.urlopen(ready_url, timeout=1.0) as reply,
        ):
            if json.load(reply).get("optimised") is True:
                return time.perf_counter() - started
        time.sleep(poll_s)
    raise RuntimeError(f"graphs not optimised after {timeout_s:.0f} s")


def wait_log_lines(
    log_path: Path, offset: int, pattern: re.Pattern[str], count: int, proc: subprocess.Popen[bytes], timeout_s: float
) -> bool:
    """Wait until ``count`` lines after byte ``offset`` of the log match ``pattern``; False on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        with log_path.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace")
        if sum(1 for line in text.splitlines() if pattern.search(line)) >= count:
            return True
        time.sleep(0.02)
    return False


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                kids.setdefault(int(_stat_fields(int(entry))[1]), []).append(int(entry))
    return kids


def process_tree(pid: int) -> list[int]:
    """``pid`` first, then all its descendants."""
    kids, found, todo = _children(), [], [pid]
    while todo:
        current = todo.pop(0)
        found.append(current)
        todo.extend(kids.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the given processes (those still alive)."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = _stat_fields(pid)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


@dataclass(frozen=True)
class ProcessMemory:
    pid: int
    role: str  # "server" (the only process), "main" (supervisor of workers), "worker" or "helper"
    rss_mib: float
    peak_rss_mib: float
    pss_mib: float


def _kib_field(path: str, key: str) -> float:
    with contextlib.suppress(OSError, ValueError, IndexError), open(path) as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def memory(root_pid: int) -> list[ProcessMemory]:
    """RSS, peak RSS and PSS (shared pages split fairly) of every process in the tree."""
    pids = process_tree(root_pid)
    found = []
    for pid in pids:
        if pid == root_pid:
            role = "server" if len(pids) == 1 else "main"
        else:
            role = "helper" if "resource_tracker" in _cmdline(pid) else "worker"
        found.append(
            ProcessMemory(
                pid=pid,
                role=role,
                rss_mib=_kib_field(f"/proc/{pid}/status", "VmRSS"),
                peak_rss_mib=_kib_field(f"/proc/{pid}/status", "VmHWM"),
                pss_mib=_kib_field(f"/proc/{pid}/smaps_rollup", "Pss"),
            )
        )
    return found


def _alive(pid: int) -> bool:
    try:
        return _stat_fields(pid)[0] != "Z"
    except (OSError, IndexError):
        return False


def stop(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM to the session we created and to the tree, SIGKILL what is left after ``grace_s``."""
    if proc.poll() is None:
        pids = process_tree(proc.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        for pid in pids[1:]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.05)
            proc.poll()
        for pid in pids:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
