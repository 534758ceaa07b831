"""What a result needs beside the numbers: machine, versions, commit, date, load at start."""

import datetime as dt
import importlib.metadata
import os
import platform
import subprocess

from bench import PROJECT_ROOT

PACKAGES = ("torch", "fastapi", "starlette", "uvicorn", "pydantic", "uvloop", "httptools", "orjson")


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False, cwd=PROJECT_ROOT)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unavailable ({exc})"
    return (done.stdout + done.stderr).strip().splitlines()[0] if (done.stdout + done.stderr).strip() else ""


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def describe(loadgen: str) -> dict[str, object]:
    versions: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "loadgen": _run(["wrk", "-v"]).split(" [")[0] if loadgen == "wrk" else "bench.load python fallback",
        "commit": _run(["git", "rev-parse", "HEAD"]),
        "tracked_changes": bool(dirty),
        "loadavg_at_start": os.getloadavg(),
    }
