"""The servers a run compares, as command lines with a clean environment.

Every server: one loopback port, torch threads = ``--torch-threads`` (1 by default, also
OMP/MKL), cwd a scratch folder (so no stray ``.env`` is read), no TINYSERVE_* variable from the
caller's environment (an API key there would turn every request into a 401).
"""

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench import PROJECT_ROOT

TINYSERVE_LOADED = re.compile(r'"logger":\s*"tinyserve\.lifecycle".*"message":\s*"(loaded |model \S+ failed to load)')
TINYSERVE_SETTLED = re.compile(r'"logger":\s*"tinyserve\.registry".*"message":\s*"\S+ runs its ')
DEFAULT_TARGETS = ("tinyserve", "baseline", "tinyserve-w2", "tinyserve-log")
# Two workers with TINYSERVE_CPU_AFFINITY on / off instead of auto, to compare pinning where auto would not pin.
TARGET_NAMES = (*DEFAULT_TARGETS, "tinyserve-w2-pinned", "tinyserve-w2-free")


@dataclass(frozen=True)
class ServerSpec:
    name: str
    kind: str  # "tinyserve" | "baseline"
    workers: int
    port: int
    argv: list[str]
    env: dict[str, str] = field(repr=False)
    note: str = ""
    # Each worker of a multi-worker tinyserve answers /health/ready for itself, so a 200 says one worker
    # is ready. Every worker logs one line per model it loaded (or failed to load): that shows them all.
    loaded_line: re.Pattern[str] | None = None
    # After readiness tinyserve traces its graphs and times its kernels (one line per model and worker
    # when done): load is measured only after that, on the graphs it will keep.
    settled_line: re.Pattern[str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ready_url(self) -> str:
        return self.base_url + "/health/ready"


def clean_env(torch_threads: int, extra: dict[str, str]) -> dict[str, str]:
    dropped = ("TINYSERVE_", "PROMETHEUS_MULTIPROC_DIR", "BENCH_", "PB_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped) and k != "PYTHONPATH"}
    env.update(
        {
            "PYTHONPATH": str(PROJECT_ROOT),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": str(torch_threads),
            "MKL_NUM_THREADS": str(torch_threads),
        }
    )
    env.update(extra)
    return env


def tinyserve(
    name: str, port: int, store: Path, torch_threads: int, workers: int, access_log: bool, cpu_affinity: str = "auto"
) -> ServerSpec:
    argv = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(workers), "--model-store", str(store)]
    env = clean_env(
        torch_threads,
        {
            "TINYSERVE_TORCH_THREADS": str(torch_threads),
            "TINYSERVE_ACCESS_LOG": "true" if access_log else "false",
            "TINYSERVE_CPU_AFFINITY": cpu_affinity,
        },
    )
    note = f"tinyserve serve, {workers} worker{'s' if workers > 1 else ''}, access log {'on' if access_log else 'off'}"
    if workers > 1:
        note += f", CPU affinity {cpu_affinity}"
    return ServerSpec(name, "tinyserve", workers, port, argv, env, note, TINYSERVE_LOADED, TINYSERVE_SETTLED)


def baseline(port: int, store: Path, torch_threads: int) -> ServerSpec:
    argv = [sys.executable, "-m", "uvicorn", "bench.baseline_app:create_app", "--factory", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"]
    env = clean_env(torch_threads, {"BENCH_MODEL_STORE": str(store), "BENCH_TORCH_THREADS": str(torch_threads)})
    note = "bench/baseline_app.py: FastAPI+uvicorn, async def, pydantic models, forward inline, 1 worker"
    return ServerSpec("baseline", "baseline", 1, port, argv, env, note)


def make(name: str, port: int, store: Path, torch_threads: int) -> ServerSpec:
    if name == "tinyserve":
        return tinyserve(name, port, store, torch_threads, workers=1, access_log=False)
    if name == "tinyserve-w2":
        return tinyserve(name, port, store, torch_threads, workers=2, access_log=False)
    if name in ("tinyserve-w2-pinned", "tinyserve-w2-free"):
        affinity = "on" if name.endswith("pinned") else "off"
        return tinyserve(name, port, store, torch_threads, workers=2, access_log=False, cpu_affinity=affinity)
    if name == "tinyserve-log":
        return tinyserve(name, port, store, torch_threads, workers=1, access_log=True)
    if name == "baseline":
        return baseline(port, store, torch_threads)
    raise ValueError(f"unknown target {name!r}; known: {', '.join(TARGET_NAMES)}")
