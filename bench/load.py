"""Load generators: wrk (the real one) and a small pure-Python fallback for smoke runs without wrk.

Both keep ``conc`` keep-alive connections busy for ``duration`` seconds against one loopback URL
and report completed requests, latency percentiles, HTTP errors (status >= 400) and socket errors.
"""

import asyncio
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench import BENCH_DIR

WRK_TIMEOUT_S = 10
MAX_PYTHON_REQUESTS = 200_000  # the fallback stops at this count even if time is left


@dataclass(frozen=True)
class LoadResult:
    tool: str
    conc: int
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    http_errors: int
    socket_errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise ValueError(f"refusing to load a non-loopback address: {url}")


def parse_wrk_summary(text: str, conc: int) -> LoadResult:
    raw = json.loads(text)
    return LoadResult(
        tool="wrk",
        conc=conc,
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["lat_p50_us"] / 1e3,
        p90_ms=raw["lat_p90_us"] / 1e3,
        p99_ms=raw["lat_p99_us"] / 1e3,
        max_ms=raw["lat_max_us"] / 1e3,
        http_errors=raw["err_status"],
        socket_errors=raw["err_connect"] + raw["err_read"] + raw["err_write"] + raw["err_timeout"],
    )


def run_wrk(
    url: str, body: bytes, content_type: str, conc: int, duration_s: float, headers: dict[str, str] | None = None
) -> LoadResult:
    """One wrk thread (-t1), ``conc`` connections, whole seconds (wrk's unit), 10 s request timeout."""
    _check_loopback(url)
    seconds = max(1, round(duration_s))
    with tempfile.TemporaryDirectory(prefix="tinyserve-wrk-") as tmp:
        body_file, out_file = Path(tmp) / "body", Path(tmp) / "summary.json"
        body_file.write_bytes(body)
        env = {"BENCH_BODY_FILE": str(body_file), "BENCH_OUT_FILE": str(out_file), "BENCH_CONTENT_TYPE": content_type}
        env["BENCH_HEADERS"] = "\n".join(f"{name}: {value}" for name, value in (headers or {}).items())
        command = ["wrk", "-t1", f"-c{conc}", f"-d{seconds}s", "--timeout", f"{WRK_TIMEOUT_S}s"]
        command += ["-s", str(BENCH_DIR / "post.lua"), url]
        done = subprocess.run(
            command, env={**os.environ, **env}, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
        if not out_file.exists():
            raise RuntimeError(f"wrk failed (rc={done.returncode}): {done.stdout[-400:]} {done.stderr[-400:]}")
        return parse_wrk_summary(out_file.read_text(), conc)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Status code and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    headers = {k.strip().lower(): v.strip().lower() for k, v in headers.items()}
    if "content-length" not in headers:
        raise ConnectionError("response without Content-Length")
    await reader.readexactly(int(headers["content-length"]))
    return status, headers.get("connection") != "close"


async def _python_load(url: str, body: bytes, content_type: str, conc: int, duration_s: float) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (
        f"POST {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors = {"http": 0, "socket": 0}
    started = time.perf_counter()
    deadline = started + duration_s

    async def connection() -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while time.perf_counter() < deadline and len(latencies) < MAX_PYTHON_REQUESTS:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                sent = time.perf_counter()
                writer.write(request)
                status, keep = await asyncio.wait_for(_read_response(reader), WRK_TIMEOUT_S)
                latencies.append(time.perf_counter() - sent)
                errors["http"] += status >= 400
                if not keep:
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
                errors["socket"] += 1
                if writer is not None:
                    writer.close()
                writer = None
                await asyncio.sleep(0.01)
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(conc)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return LoadResult(
        tool="python",
        conc=conc,
        requests=len(ordered),
        seconds=elapsed,
        p50_ms=percentile(ordered, 50) * 1e3,
        p90_ms=percentile(ordered, 90) * 1e3,
        p99_ms=percentile(ordered, 99) * 1e3,
        max_ms=(ordered[-1] if ordered else 0.0) * 1e3,
        http_errors=errors["http"],
        socket_errors=errors["socket"],
    )


def run_python(url: str, body: bytes, content_type: str, conc: int, duration_s: float) -> LoadResult:
    """Fallback generator (asyncio, keep-alive). It shares the CPUs with the server and costs more per
    request than wrk: numbers from it are for smoke runs, not for comparisons."""
    _check_loopback(url)
    return asyncio.run(_python_load(url, body, content_type, conc, duration_s))


def run_load(tool: str, url: str, body: bytes, content_type: str, conc: int, duration_s: float) -> LoadResult:
    if tool == "wrk":
        return run_wrk(url, body, content_type, conc, duration_s)
    return run_python(url, body, content_type, conc, duration_s)
