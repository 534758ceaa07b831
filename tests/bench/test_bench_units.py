"""The bench harness's pure parts: parsing, comparisons, tables. Fast; no server."""

import contextlib
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from bench import PROJECT_ROOT, load, peers, procs, report, scrape, servers
from bench.criteria import Criterion
from bench.payloads import JSON, Payload, Scenario
from bench.verify import compare


def test_wrk_summary_is_parsed_into_milliseconds() -> None:
    text = json.dumps(
        {
            "requests": 500,
            "duration_us": 2_000_000,
            "bytes": 1,
            "err_connect": 1,
            "err_read": 2,
            "err_write": 0,
            "err_status": 3,
            "err_timeout": 4,
            "lat_p50_us": 1500,
            "lat_p90_us": 2500,
            "lat_p99_us": 9000,
            "lat_max_us": 12000,
        }
    )
    result = load.parse_wrk_summary(text, conc=16)
    assert result.rps == 250 and result.p50_ms == 1.5 and result.p99_ms == 9.0
    assert result.http_errors == 3 and result.socket_errors == 7


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert load.percentile(values, 50) == 50.0
    assert load.percentile(values, 99) == 99.0
    assert load.percentile([], 99) == 0.0


def test_load_generators_refuse_non_loopback_targets() -> None:
    with pytest.raises(ValueError, match="non-loopback"):
        load.run_python("http://192.0.2.1:80/x", b"{}", JSON, 1, 0.1)


def test_counter_total_sums_matching_samples_over_workers() -> None:
    text = "\n".join(
        [
            "# TYPE tinyserve_requests_total counter",
            'tinyserve_requests_total{method="POST",route="/v1/digits/predict",status="200"} 7.0',
            'tinyserve_requests_total{method="POST",route="/v1/digits/predict",status="503"} 2.0',
            'tinyserve_requests_total{method="POST",route="/v1/names/predict",status="200"} 5.0',
        ]
    )
    assert scrape.counter_total(text, "tinyserve_requests_total", route="/v1/digits/predict", status="200") == 7
    assert scrape.counter_total(text, "tinyserve_requests_total", status="200") == 12


def _scenario(expected: list[float], top_k: int) -> tuple[Scenario, Payload]:
    payload = Payload("/v1/digits/predict", b"", JSON, 1, np.array([expected]), top_k, "m")
    return Scenario("m json", "json", "m", 1, [str(d) for d in range(len(expected))], load=payload), payload


def _reply(digit: int, probability: float, ranked: list[tuple[int, float]]) -> dict[str, object]:
    top = [{"digit": d, "probability": p} for d, p in ranked]
    return {"model": "m", "version": 1, "predictions": [{"digit": digit, "probability": probability, "top_k": top}]}


def test_compare_accepts_the_reference_answer_and_rejects_others() -> None:
    scenario, payload = _scenario([0.1, 0.7, 0.2], top_k=2)
    problems, worst = compare(scenario, payload, _reply(1, 0.7, [(1, 0.7), (2, 0.2)]))
    assert problems == [] and worst == 0
    problems, _ = compare(scenario, payload, _reply(2, 0.2, [(2, 0.2), (1, 0.7)]))
    assert any("reference says 1" in p for p in problems)
    problems, _ = compare(scenario, payload, _reply(1, 0.71, [(1, 0.71), (2, 0.2)]))
    assert any("probability" in p for p in problems)
    problems, _ = compare(scenario, payload, _reply(1, 0.7, [(1, 0.7), (0, 0.1)]))
    assert any("top_k entry" in p for p in problems)


def test_compare_accepts_either_class_of_a_tie() -> None:
    scenario, payload = _scenario([0.5, 0.5, 0.0], top_k=1)
    assert compare(scenario, payload, _reply(1, 0.5, [(1, 0.5)]))[0] == []
    assert compare(scenario, payload, _reply(0, 0.5, [(0, 0.5)]))[0] == []


def _cell(target: str, conc: int, rps: float, p50: float, p99: float, rnd: int = 1) -> dict[str, object]:
    return {
        "target": target,
        "scenario": "digits-cnn json",
        "kind": "json",
        "model": "digits-cnn",
        "items_per_request": 1,
        "conc": conc,
        "round": rnd,
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "http_errors": 0,
        "socket_errors": 0,
        "requests": int(rps),
        "server_cpu_ms_per_req": 1.0,
        "server_cores": 1.0,
    }


def test_summary_takes_medians_and_ratios_against_the_baseline() -> None:
    cells = [
        _cell("baseline", 1, 100, 2.0, 4.0),
        _cell("tinyserve", 1, 300, 1.0, 2.0, 1),
        _cell("tinyserve", 1, 100, 1.0, 2.0, 2),
        _cell("tinyserve", 1, 200, 1.0, 2.0, 3),
    ]
    rows = report.summarise(cells)
    mine = next(r for r in rows if r["target"] == "tinyserve")
    assert mine["rps"] == 200 and mine["rounds"] == 3 and mine["x_baseline"] == 2.0
    assert mine["p99_vs_baseline"] == 0.5 and mine["p50_vs_baseline"] == 0.5
    names = [c.name for c in report.criteria(rows, [], {}, "digits-cnn json")]
    assert "digits-cnn json c=1: p50 vs baseline's p50" in names


def test_two_workers_criterion_reports_the_cores_each_used() -> None:
    one, two = _cell("tinyserve", 64, 1000, 1.0, 2.0), _cell("tinyserve-w2", 64, 1500, 1.0, 2.0)
    two["server_cores"] = 1.7
    rows = report.summarise([_cell("baseline", 64, 100, 2.0, 4.0), one, two])
    (found,) = [c for c in report.criteria(rows, [], {}, "digits-cnn json") if "2 workers" in c.name]
    assert found.name == "digits-cnn json c=64: 2 workers vs 1 worker req/s (server cores 1.70 vs 1.00)"
    assert found.value == 1.5 and not found.passed


@pytest.mark.parametrize(
    ("target", "workers", "affinity"),
    [
        ("tinyserve", 1, "auto"),
        ("tinyserve-w2", 2, "auto"),
        ("tinyserve-w2-pinned", 2, "on"),
        ("tinyserve-w2-free", 2, "off"),
    ],
)
def test_tinyserve_targets_set_workers_and_cpu_affinity(target: str, workers: int, affinity: str) -> None:
    spec = servers.make(target, 8000, PROJECT_ROOT / "models_store", 1)
    assert spec.workers == workers and spec.argv[spec.argv.index("--workers") + 1] == str(workers)
    assert spec.env["TINYSERVE_CPU_AFFINITY"] == affinity


def test_criteria_directions() -> None:
    assert Criterion("x", 1.6, ">=", 1.5).passed and not Criterion("x", 1.4, ">=", 1.5).passed
    assert Criterion("y", 0.8, "<=", 0.8).passed and not Criterion("y", 0.81, "<=", 0.8).passed


def test_peers_compare_against_the_best_peer_per_column() -> None:
    def row(target: str, conc: int, rps: float, p50: float, p99: float, xc: float) -> dict[str, object]:
        return {"target": target, "conc": conc, "rps": rps, "p50_ms": p50, "p99_ms": p99, "x_ceiling": xc}

    doc = {
        "started": "today",
        "summary": [
            row("ceiling", 1, 2000, 0.4, 0.6, 1.0),
            row("naive-async", 1, 800, 1.0, 2.0, 0.4),
            row("kserve", 1, 700, 1.3, 2.5, 0.35),
            row("tinyserve", 1, 1600, 0.6, 1.5, 0.8),
        ],
        "results": [],
    }
    lines, found = peers.compare(doc)
    assert any("| naive-async | 800 | 2.00 |" in line for line in lines)
    by_name = {c.name: c for c in found}
    assert by_name["peers c=1: req/s vs best peer (naive-async)"].passed
    assert by_name["peers c=1: p50 vs naive-async's p50"].value == pytest.approx(0.6)
    assert not by_name["peers c=1: req/s vs the HTTP ceiling"].passed  # 0.8 < 0.9


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def _serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` answering on a loopback port from a thread; yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def echo_server() -> Iterator[str]:
    class Handler(_QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b"{}" if self.headers["Content-Type"] == JSON else b"wrong content type"
            self.reply(200 if body == b"{}" else 415, body)

    with _serving(Handler) as base:
        yield base + "/predict"


def test_python_load_generator_counts_requests_and_errors(echo_server: str) -> None:
    good = load.run_python(echo_server, b"{}", JSON, conc=2, duration_s=0.3)
    assert good.requests > 0 and good.http_errors == 0 and good.socket_errors == 0 and good.p99_ms > 0
    bad = load.run_python(echo_server, b"{}", "text/plain", conc=1, duration_s=0.2)
    assert bad.requests > 0 and bad.http_errors == bad.requests


@pytest.mark.skipif(not load.have_wrk(), reason="wrk is not installed (apt-get install wrk); the fallback is tested")
def test_wrk_script_posts_the_body_and_reports_json(echo_server: str) -> None:
    result = load.run_wrk(echo_server, b"{}", JSON, conc=2, duration_s=1)
    assert result.tool == "wrk" and result.requests > 0 and result.http_errors == 0 and result.socket_errors == 0


@pytest.fixture
def readiness_server() -> Iterator[str]:
    """/health/ready as tinyserve answers it: ready at once, optimised from the third poll."""
    polls = []

    class Handler(_QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if self.path != "/health/ready":
                self.send_error(404)
                return
            polls.append(self.path)
            self.reply(200, json.dumps({"status": "ready", "models": {}, "optimised": len(polls) >= 3}).encode())

    with _serving(Handler) as base:
        yield base + "/health/ready"


def test_wait_optimised_polls_until_the_graphs_are_optimised(readiness_server: str) -> None:
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert procs.wait_optimised(readiness_server, alive, timeout_s=10, poll_s=0.01) >= 0
        with pytest.raises(RuntimeError, match="not optimised after"):
            procs.wait_optimised(readiness_server.replace("/health/ready", "/nowhere"), alive, timeout_s=0.05)
    finally:
        alive.kill()
        alive.wait()
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    with pytest.raises(RuntimeError, match="exited with code 0"):
        procs.wait_optimised(readiness_server, exited, timeout_s=10)
