"""tinyserve as a peerbench target: serve peerbench's model, prove the answers, then let peerbench in.

peerbench starts this (see peerbench_targets.py) in its own process group. It

1. exports peerbench's weights as a tinyserve artifact into a fresh temporary store
   (bench/peer_artifact.py);
2. starts ``python -m service serve`` on ``--port`` in the same process group (1 worker, access
   log off, torch threads = $PB_TORCH_THREADS);
3. once /health/ready says 200 and ``optimised`` (graphs traced, kernels timed: load is measured
   on the graphs tinyserve keeps), posts every peerbench sample (``body_tinyserve_v1_<i>.json``)
   in turn and then 64 at once from 16 threads, each reply checked against peerbench's
   ``expected.json`` (same label, probability within 1e-3: peerbench's own rule);
4. only if all are right, answers 200 on ``http://127.0.0.1:<gate-port>/ready``, the health URL
   peerbench waits for; otherwise it stops tinyserve and exits with status 3, which peerbench
   reports as "exited with code 3 before ready".

peerbench itself cannot read tinyserve's reply shape (reply="none"), hence this gate. The result
is printed as one JSON line to stdout, which peerbench keeps in logs/<stamp>/tinyserve.log.
"""

import argparse
import concurrent.futures as cf
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import PROJECT_ROOT, procs
from bench.peer_artifact import export

TOLERANCE = 1e-3  # peerbench's rule for every target
GATE_FAILED = 3


def post(url: str, body: bytes) -> tuple[int | None, bytes]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            status: int = reply.status
            return status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError as exc:
        return None, str(exc).encode()


def check_one(url: str, body: bytes, expected: dict[str, Any]) -> str | None:
    """None when right, else what was wrong."""
    status, raw = post(url, body)
    if status != 200:
        return f"status {status}: {raw[:200]!r}"
    try:
        best = json.loads(raw)["predictions"][0]
        label, prob = int(best["digit"]), float(best["probability"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return f"unreadable reply {raw[:200]!r}: {exc!r}"
    if label != expected["label"] or abs(prob - expected["prob"]) >= TOLERANCE:
        return f"got {label} p={prob:.6f}, expected {expected['label']} p={expected['prob']:.6f}"
    return None


def check(url: str, assets: Path) -> dict[str, Any]:
    expected = json.loads((assets / "expected.json").read_text())
    bodies = [(assets / f"body_tinyserve_v1_{i}.json").read_bytes() for i in range(len(expected))]
    sequential = [check_one(url, bodies[i], expected[i]) for i in range(len(bodies))]
    with cf.ThreadPoolExecutor(16) as pool:
        concurrent = list(
            pool.map(lambda i: check_one(url, bodies[i % len(bodies)], expected[i % len(bodies)]), range(64))
        )
    failures = [f for f in sequential + concurrent if f is not None]
    return {
        "ok": not failures,
        "sequential": f"{sequential.count(None)}/{len(sequential)}",
        "concurrent": f"{concurrent.count(None)}/{len(concurrent)}",
        "failures": failures[:5],
    }


def serve_gate(port: int, verdict: dict[str, Any]) -> http.server.ThreadingHTTPServer:
    body = json.dumps(verdict).encode()

    class Gate(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass

    gate = http.server.ThreadingHTTPServer(("127.0.0.1", port), Gate)
    threading.Thread(target=gate.serve_forever, daemon=True).start()
    return gate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--gate-port", type=int, required=True)
    parser.add_argument("--assets", type=Path, default=Path(os.environ.get("PB_ASSETS", "/tmp/peerbench/assets")))
    parser.add_argument("--ready-timeout", type=float, default=120.0)
    args = parser.parse_args()
    threads = os.environ.get("PB_TORCH_THREADS", "1")
    scratch = Path(tempfile.mkdtemp(prefix="tinyserve-peerbench-"))
    child: subprocess.Popen[bytes] | None = None

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    try:
        export(args.assets, scratch / "store")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TINYSERVE_", "PROMETHEUS_", "VIRTUAL_ENV"))}
        env.update(
            PYTHONPATH=str(PROJECT_ROOT),
            TINYSERVE_MODEL_STORE=str(scratch / "store"),
            TINYSERVE_ACCESS_LOG="false",
            TINYSERVE_TORCH_THREADS=threads,
            OMP_NUM_THREADS=threads,
            MKL_NUM_THREADS=threads,
        )
        argv = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(args.port)]
        child = subprocess.Popen(argv, cwd=scratch, env=env, stdin=subprocess.DEVNULL)  # same process group
        base = f"http://127.0.0.1:{args.port}"
        ready_s = procs.wait_ready(base + "/health/ready", child, args.ready_timeout)
        # Load is measured on the graphs tinyserve keeps: tracing and kernel timing, after readiness, would
        # otherwise share the CPU with peerbench's first cells.
        optimised_s = procs.wait_optimised(base + "/health/ready", child, args.ready_timeout)
        verdict = {"gate": "tinyserve vs peerbench expected.json", "ready_s": round(ready_s, 2)}
        verdict["optimised_after_s"] = round(optimised_s, 2)
        verdict |= check(base + "/v1/digits/predict", args.assets)
        print(json.dumps(verdict), flush=True)
        if not verdict["ok"]:
            return GATE_FAILED
        serve_gate(args.gate_port, verdict)
        return child.wait()
    finally:
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
