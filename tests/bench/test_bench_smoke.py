"""A smoke run of the bench command over the committed models: starts real servers, checks answers.

Uses the pure-Python load generator (CI has no wrk) with very short cells: it proves the harness
works end to end, its numbers mean nothing. Real runs: see bench/README.md.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import PROJECT_ROOT


@pytest.mark.slow
def test_quick_bench_run_checks_every_server(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench.run", "--quick", "--loadgen", "python", "--duration", "0.3"]
    command += ["--targets", "tinyserve,baseline,tinyserve-w2", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, check=False)
    results = tmp_path / "results.json"
    assert results.exists(), done.stderr[-3000:]

    doc = json.loads(results.read_text())
    assert {s["name"] for s in doc["servers"]} == {"tinyserve", "baseline", "tinyserve-w2"}
    for server in doc["servers"]:
        assert not server.get("error"), server
        assert server["checks"] and all(check["ok"] for check in server["checks"]), server["checks"]
        assert server["memory"] and server["cold_start_s"] > 0
    kinds = {cell["kind"] for cell in doc["cells"] if cell["target"] == "tinyserve"}
    assert kinds >= {"json", "bulk", "upload"}
    for cell in doc["cells"]:
        assert cell["requests"] > 0 and cell["socket_errors"] == 0 and cell["http_errors"] == 0, cell
    uncounted = [
        f"{c['target']} {c['scenario']} c={c['conc']}: {c['requests']} answered, counted {c['metrics_delta']:.0f}"
        for c in doc["cells"]
        if c.get("metrics_ok") is False
    ]
    assert not uncounted, 'tinyserve_requests_total{route=...,status="200"} missed requests: ' + "; ".join(uncounted)
    assert doc["inprocess"]["forward"], doc["inprocess"]
    text = (tmp_path / "results.md").read_text()
    assert "| digits-cnn json | tinyserve | 1 |" in text and "## Targets from the issue" in text
    assert done.returncode == 0, done.stderr[-3000:]
