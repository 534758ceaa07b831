"""Ready means fast: how long a cold start takes to /health/ready, and how the first seconds of c=1
load after ready compare with steady state.

    python -m bench.ready_fast [--ready-after-optimise true|false] [--seconds 5] [--models a,b]

Starts ``tinyserve serve`` on a loopback port, times spawn -> 200 from /health/ready, then sends
one request at a time for ``--seconds`` (the first window), waits until the graphs are optimised,
and sends for ``--seconds`` again (steady state). Prints one JSON object.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

LISTENING = re.compile(r"Uvicorn running on (http://[\d.]+:\d+)")
BODY = {"images": [{"pixels": [[0] * 28 for _ in range(28)]}]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def window(client: httpx.Client, path: str, seconds: float) -> dict[str, float]:
    latencies = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        started = time.perf_counter()
        response = client.post(path, json=BODY)
        latencies.append(time.perf_counter() - started)
        response.raise_for_status()
    return {
        "requests": len(latencies),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "max_ms": round(max(latencies) * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ready-after-optimise", default="true", choices=["true", "false"])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--models", default="", help="TINYSERVE_MODELS (default: every model in the store)")
    parser.add_argument("--model", default="digits-cnn", help="the model the load goes to")
    args = parser.parse_args()
    env = {
        **os.environ,
        "TINYSERVE_READY_AFTER_OPTIMISE": args.ready_after_optimise,
        "TINYSERVE_MODELS": args.models,
        "TINYSERVE_ACCESS_LOG": "false",
    }
    with tempfile.TemporaryDirectory() as folder:
        log_path = Path(folder) / "stderr.log"
        started = time.perf_counter()
        with log_path.open("wb") as log:
            command = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", "0"]
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            base = None
            while base is None:
                if match := LISTENING.search(log_path.read_text(errors="replace")):
                    base = match.group(1)
                time.sleep(0.005)
            with httpx.Client(base_url=base, timeout=30) as client:
                while client.get("/health/ready").status_code != 200:
                    time.sleep(0.005)
                ready_s = time.perf_counter() - started
                path = f"/v1/models/{args.model}/predict"
                first = window(client, path, args.seconds)
                while not client.get("/health/ready").json()["optimised"]:
                    time.sleep(0.05)
                optimised_s = time.perf_counter() - started
                steady = window(client, path, args.seconds)
        finally:
            process.terminate()
            process.wait(30)
    result = {
        "ready_after_optimise": args.ready_after_optimise == "true",
        "models": args.models or "all",
        "cold_start_to_ready_s": round(ready_s, 2),
        "cold_start_to_optimised_s": round(optimised_s, 2),
        "first_window": first,
        "steady_state": steady,
        "first_p99_over_steady_p99": round(first["p99_ms"] / steady["p99_ms"], 2),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
