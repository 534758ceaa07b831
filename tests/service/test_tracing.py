"""service/tracing.py with the SDK's in-memory exporter: the API directly, then real requests to the real app.

The request path's stage spans (decode, queue, forward, encode) are wired by the routes and the batcher;
the tests at the end that need them are strict xfails until then, so wiring them makes them fail as
XPASS: remove the mark there. Extend this module for new stages.
"""

import asyncio
import http.server
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from service import tracing
from service.logs import JSONFormatter
from tests.paths import MODELS_STORE, PROJECT_ROOT
from tests.servers import free_port, wait_ready

from .conftest import make_settings, running_app

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
NAMES_BODY = {"names": ["Rossi", "Nakamura"]}
V2_NAMES_BODY = {"inputs": [{"name": "names", "shape": [1], "datatype": "BYTES", "data": ["Dvořák"]}]}


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure(True, exporter=exporter)
    try:
        yield exporter
    finally:
        tracing.configure(False)


def asgi_scope(*headers: tuple[str, str], path: str = "/v1/names/predict") -> dict[str, Any]:
    encoded = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    return {"type": "http", "method": "POST", "path": path, "scheme": "http", "headers": encoded}


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"


def parent_id(span: ReadableSpan) -> str | None:
    return None if span.parent is None else f"{span.parent.span_id:016x}"


def by_name(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def one_request(scope: dict[str, Any], model: str = "names-gru") -> tracing.QueueTicket | None:
    """What the request path does before its batch runs: decode inside the server span, then queue."""
    with tracing.stage("decode", model=model, version=1):
        pass
    return tracing.enqueued(model=model, version=1)


# ---- off ----


def test_off_by_default_nothing_is_built() -> None:
    assert not tracing.is_enabled()
    scope = asgi_scope(("traceparent", TRACEPARENT))
    # One shared no-op context for every call: no span, context or attribute dict is made.
    assert tracing.stage("decode") is tracing.stage("encode") is tracing.server_span(scope)
    assert tracing.enqueued(model="names-gru") is None
    assert tracing.forward([None], model="m", version=1, batch_size=1, device="cpu", graph="eager") is tracing.stage(
        "decode"
    )
    assert "state" not in scope


# ---- the API, driven directly ----


def test_a_request_continues_the_callers_trace_with_every_stage(spans: InMemorySpanExporter) -> None:
    scope = asgi_scope(("traceparent", TRACEPARENT), ("tracestate", "vendor=abc"))
    with tracing.server_span(scope) as server:
        assert server is not None
        ticket = one_request(scope)
        with tracing.forward([ticket], model="names-gru", version=1, batch_size=2, device="cpu", graph="stepwise"):
            pass
        with tracing.stage("encode", model="names-gru", version=1):
            pass
        server.set_status(200)
    (root,) = by_name(spans, "POST")  # no route in this scope: the name stays the method
    assert root.kind is SpanKind.SERVER and parent_id(root) == PARENT_ID
    assert root.attributes is not None and root.attributes["http.response.status_code"] == 200
    assert root.context is not None and root.context.trace_state.get("vendor") == "abc"
    names = sorted(span.name for span in spans.get_finished_spans())
    assert names == ["POST", "decode", "encode", "forward", "queue"]
    assert all(hex_ids(span)[0] == TRACE_ID for span in spans.get_finished_spans())
    server_id = hex_ids(root)[1]
    for name in ("decode", "queue", "encode", "forward"):
        (span,) = by_name(spans, name)
        assert parent_id(span) == server_id, name  # a lone request's trace holds its forward inline
    (forward,) = by_name(spans, "forward")
    assert forward.attributes == {
        tracing.MODEL: "names-gru",
        tracing.VERSION: "1",
        tracing.BATCH_SIZE: 2,
        tracing.BATCH_REQUESTS: 1,
        tracing.DEVICE: "cpu",
        tracing.GRAPH: "stepwise",
    }


def test_a_batch_is_one_forward_linked_to_every_request(spans: InMemorySpanExporter) -> None:
    traces = [f"{index + 1:032x}" for index in range(3)]
    tickets = []
    for trace_id in traces:
        with tracing.server_span(asgi_scope(("traceparent", f"00-{trace_id}-{PARENT_ID}-01"))):
            tickets.append(one_request({}))

    def run_batch() -> None:  # on a thread of its own, as the batch worker, where no request's context is current
        with tracing.forward(tickets, model="names-gru", version=1, batch_size=6, device="cpu", graph="eager"):
            pass

    worker = threading.Thread(target=run_batch)
    worker.start()
    worker.join(10)
    spans_by_trace = {hex_ids(span)[0]: span for span in by_name(spans, "POST")}
    (forward,) = by_name(spans, "forward")
    assert forward.attributes is not None and forward.attributes[tracing.BATCH_REQUESTS] == 3
    linked = {(f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for link in forward.links}
    assert linked == {hex_ids(spans_by_trace[trace_id]) for trace_id in traces}
    forward_ids = hex_ids(forward)
    assert forward_ids[0] == traces[0]  # the first request's trace holds it as a child
    for queue in by_name(spans, "queue"):  # each request's queue span ends where the forward starts, linked to it
        assert [(f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for link in queue.links] == [
            forward_ids
        ]


def test_the_forward_span_is_current_and_records_a_failure(spans: InMemorySpanExporter) -> None:
    with tracing.server_span(asgi_scope()):
        ticket = one_request({})

    def run_batch() -> None:
        with (
            pytest.raises(RuntimeError),
            tracing.forward([ticket], model="m", version=None, batch_size=1, device="cpu", graph="eager"),
        ):
            with tracing.stage("prepare"):  # nested work on the worker thread parents to the forward
                pass
            raise RuntimeError("boom")

    worker = threading.Thread(target=run_batch)
    worker.start()
    worker.join(10)
    (forward,) = by_name(spans, "forward")
    (prepare,) = by_name(spans, "prepare")
    assert parent_id(prepare) == hex_ids(forward)[1]
    assert forward.status.status_code is StatusCode.ERROR
    assert [event.name for event in forward.events] == ["exception"]


def test_a_request_that_leaves_the_queue_ends_its_span_once_with_the_error(spans: InMemorySpanExporter) -> None:
    with tracing.server_span(asgi_scope()):
        ticket = one_request({})
    assert ticket is not None
    ticket.end(TimeoutError("deadline"))
    ticket.end()  # the worker reaching it later must not end it twice
    with tracing.forward([ticket], model="m", version=1, batch_size=1, device="cpu", graph="eager"):
        pass
    (queue,) = by_name(spans, "queue")
    assert queue.status.status_code is StatusCode.ERROR and queue.status.description == "TimeoutError"


def test_no_forward_span_without_requests(spans: InMemorySpanExporter) -> None:
    """Warm-up and golden-check forwards carry no request: they make no span."""
    with tracing.forward([], model="m", version=1, batch_size=1, device="cpu", graph="eager"):
        pass
    with tracing.forward([None], model="m", version=1, batch_size=1, device="cpu", graph="eager"):
        pass
    assert spans.get_finished_spans() == ()


def test_without_traceparent_the_server_span_starts_a_trace(spans: InMemorySpanExporter) -> None:
    scope = asgi_scope()
    with tracing.server_span(scope):
        ids = tracing.current_ids(scope)
    (root,) = spans.get_finished_spans()
    assert root.parent is None and ids == hex_ids(root)


# ---- ids for the access log ----


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (TRACEPARENT, (TRACE_ID, PARENT_ID)),
        (f"01-{TRACE_ID}-{PARENT_ID}-01-future", (TRACE_ID, PARENT_ID)),  # a later version may add fields
        (f" {TRACEPARENT} ", (TRACE_ID, PARENT_ID)),
        (f"00-{TRACE_ID}-{PARENT_ID}-01-extra", None),  # version 00 has exactly four fields
        (f"ff-{TRACE_ID}-{PARENT_ID}-01", None),
        (f"00-{'0' * 32}-{PARENT_ID}-01", None),
        (f"00-{TRACE_ID}-{'0' * 16}-01", None),
        (f"00-{TRACE_ID.upper()}-{PARENT_ID}-01", None),
        (f"00-{TRACE_ID[:-1]}-{PARENT_ID}-01", None),
        ("", None),
    ],
)
def test_parse_traceparent(value: str, expected: tuple[str, str] | None) -> None:
    assert tracing.parse_traceparent(value) == expected
    assert tracing.parse_traceparent(value.encode()) == expected


def test_current_ids_off_are_the_callers() -> None:
    assert tracing.current_ids(asgi_scope(("traceparent", TRACEPARENT))) == (TRACE_ID, PARENT_ID)
    assert tracing.current_ids(asgi_scope()) is None


def test_current_ids_on_are_the_servers_own(spans: InMemorySpanExporter) -> None:
    scope = asgi_scope(("traceparent", TRACEPARENT))
    with tracing.server_span(scope):
        pass
    (root,) = spans.get_finished_spans()
    # After the block too (the access log writes its line last): the span stays in the scope's state.
    assert tracing.current_ids(scope) == hex_ids(root) and hex_ids(root)[1] != PARENT_ID


# ---- configure() from the OTEL_* environment ----


CONSOLE_SCRIPT = f"""
from service import tracing
tracing.configure(True)
scope = {{"type": "http", "method": "POST", "path": "/", "headers": [(b"traceparent", b"{TRACEPARENT}")]}}
with tracing.server_span(scope), tracing.stage("decode", model="names-gru"):
    pass
tracing.shutdown()
"""


def test_console_exporter_prints_spans() -> None:
    """In a process of its own: the console exporter writes to the stdout it finds at import."""
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "tinyserve-test"}
    result = subprocess.run(
        [sys.executable, "-c", CONSOLE_SCRIPT], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert '"name": "decode"' in result.stdout and f'"trace_id": "0x{TRACE_ID}"' in result.stdout
    assert '"service.name": "tinyserve-test"' in result.stdout


class _OtlpCollector(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_default_exporter_sends_otlp_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_TRACES_EXPORTER unset means otlp: protobuf POSTed to OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces."""
    collector = http.server.HTTPServer(("127.0.0.1", 0), _OtlpCollector)
    _OtlpCollector.received = []
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{collector.server_address[1]}")
    try:
        tracing.configure(True)
        with tracing.server_span(asgi_scope(("traceparent", TRACEPARENT))):
            pass
        tracing.shutdown()  # flushes the batch processor
    finally:
        tracing.configure(False)
        collector.shutdown()
        collector.server_close()
    assert [(path, kind) for path, kind, _ in _OtlpCollector.received] == [("/v1/traces", "application/x-protobuf")]
    assert bytes.fromhex(TRACE_ID) in _OtlpCollector.received[0][2]


def test_turning_it_on_again_keeps_the_set_up(spans: InMemorySpanExporter) -> None:
    """The app's start calls configure(True): a test's in-memory exporter must outlive it."""
    tracing.configure(True)
    with tracing.stage("decode"):
        pass
    assert [span.name for span in spans.get_finished_spans()] == ["decode"]


def test_none_exporter_traces_without_exporting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    tracing.configure(True)
    try:
        assert tracing.is_enabled()
    finally:
        tracing.configure(False)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER=zipkin needs the exporter 'zipkin'"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_TRACES_EXPORTER=otlp needs the exporter 'otlp_proto_grpc'"),
    ],
)
def test_a_missing_exporter_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(tracing.TracingUnavailableError, match=message):
        tracing.configure(True)
    assert not tracing.is_enabled()


def test_without_the_sdk_turning_it_on_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # as if not installed
    with pytest.raises(tracing.TracingUnavailableError, match=r"pip install 'tinyserve\[otel\]'"):
        tracing.configure(True)
    tracing.configure(False)  # off never needs it


# ---- the real app ----


class AccessLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(JSONFormatter().format(record)))


@pytest.fixture
def access_log() -> Iterator[AccessLog]:
    handler, logger = AccessLog(), logging.getLogger("tinyserve.access")
    logger.addHandler(handler)  # the service's loggers do not propagate to the root
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def line_of(log: AccessLog, request_id: str) -> dict[str, Any]:
    return next(line for line in log.lines if line["request_id"] == request_id)


async def test_access_log_carries_the_callers_ids_with_tracing_off(access_log: AccessLog) -> None:
    async with running_app(make_settings(models=["names-gru"], access_log=True)) as (_, client):
        traced = await client.post(
            "/v1/names/predict", json=NAMES_BODY, headers={"traceparent": TRACEPARENT, "X-Request-ID": "t-1"}
        )
        plain = await client.post("/v1/names/predict", json=NAMES_BODY, headers={"X-Request-ID": "t-2"})
    assert traced.status_code == plain.status_code == 200
    assert [item["country"] for item in traced.json()["predictions"]] == [
        item["country"] for item in plain.json()["predictions"]
    ]
    assert {key: line_of(access_log, "t-1")[key] for key in ("trace_id", "span_id", "status")} == {
        "trace_id": TRACE_ID,
        "span_id": PARENT_ID,
        "status": 200,
    }
    assert line_of(access_log, "t-2")["trace_id"] is None and line_of(access_log, "t-2")["span_id"] is None


@pytest.mark.parametrize(
    ("path", "route", "body"),
    [
        ("/v1/names/predict", "/v1/names/predict", NAMES_BODY),
        ("/v2/models/names-gru/infer", "/v2/models/{name}/infer", V2_NAMES_BODY),
    ],
)
async def test_a_traced_request_has_a_server_span_and_the_log_line_joins_it(
    spans: InMemorySpanExporter, access_log: AccessLog, path: str, route: str, body: dict[str, Any]
) -> None:
    async with running_app(make_settings(models=["names-gru"], access_log=True, opentelemetry=True)) as (_, client):
        response = await client.post(path, json=body, headers={"traceparent": TRACEPARENT, "X-Request-ID": "s-1"})
        missing = await client.post("/v2/models/nope/infer", json=body, headers={"X-Request-ID": "s-2"})
    assert response.status_code == 200, response.text
    assert missing.status_code == 404 and "'nope' is not served" in missing.json()["error"]
    servers = {span.attributes["http.response.status_code"]: span for span in by_name_kind(spans, SpanKind.SERVER)}
    ok, not_found = servers[200], servers[404]
    assert ok.name == f"POST {route}" and parent_id(ok) == PARENT_ID and hex_ids(ok)[0] == TRACE_ID
    assert not_found.parent is None and hex_ids(not_found)[0] != TRACE_ID  # no traceparent: a trace of its own
    line = line_of(access_log, "s-1")
    assert (line["trace_id"], line["span_id"]) == hex_ids(ok)
    assert (line_of(access_log, "s-2")["trace_id"], line_of(access_log, "s-2")["span_id"]) == hex_ids(not_found)


def by_name_kind(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind is kind]


# ---- the request path's stages (strict xfail until the routes and the batcher call tracing.*) ----


@pytest.mark.parametrize(
    ("path", "body"), [("/v1/names/predict", NAMES_BODY), ("/v2/models/names-gru/infer", V2_NAMES_BODY)]
)
async def test_a_traced_request_has_every_stage_span(
    spans: InMemorySpanExporter, path: str, body: dict[str, Any]
) -> None:
    async with running_app(make_settings(models=["names-gru"], opentelemetry=True)) as (_, client):
        response = await client.post(path, json=body, headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200, response.text
    in_trace = [span for span in spans.get_finished_spans() if hex_ids(span)[0] == TRACE_ID]
    assert {"decode", "queue", "forward", "encode"} <= {span.name for span in in_trace}
    (forward,) = [span for span in in_trace if span.name == "forward"]
    assert forward.attributes is not None
    assert forward.attributes[tracing.MODEL] == "names-gru" and forward.attributes[tracing.VERSION] == "1"
    assert {tracing.BATCH_SIZE, tracing.DEVICE, tracing.GRAPH} <= set(forward.attributes)


async def test_a_burst_shares_one_forward_linked_from_each_request(spans: InMemorySpanExporter) -> None:
    settings = make_settings(models=["names-gru"], max_batch_delay_ms=50, opentelemetry=True)
    traces = [f"{index + 1:032x}" for index in range(4)]
    async with running_app(settings) as (_, client):
        responses = await asyncio.gather(
            *(
                client.post("/v1/names/predict", json=NAMES_BODY, headers={"traceparent": f"00-{trace}-{PARENT_ID}-01"})
                for trace in traces
            )
        )
    assert [response.status_code for response in responses] == [200] * 4
    forwards = by_name(spans, "forward")
    linked = {f"{link.context.trace_id:032x}" for forward in forwards for link in forward.links}
    assert linked == set(traces)
    assert any(len(forward.links) > 1 for forward in forwards)  # at least one batch served several traces


def test_a_served_process_prints_a_requests_stages_with_the_console_exporter(tmp_path: Path) -> None:
    """The issue's end to end: `tinyserve serve` with TINYSERVE_OPENTELEMETRY=true and OTEL_TRACES_EXPORTER=console."""
    port, printed = free_port(), tmp_path / "stdout.txt"
    env = {
        **os.environ,
        "TINYSERVE_MODEL_STORE": str(MODELS_STORE),
        "TINYSERVE_MODELS": "names-gru",
        "TINYSERVE_OPENTELEMETRY": "true",
        "OTEL_TRACES_EXPORTER": "console",
    }
    command = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with printed.open("wb") as stdout:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=stdout, stderr=subprocess.DEVNULL)
        try:
            wait_ready(f"http://127.0.0.1:{port}", process)
            response = httpx.post(
                f"http://127.0.0.1:{port}/v1/names/predict", json=NAMES_BODY, headers={"traceparent": TRACEPARENT}
            )
            assert response.status_code == 200 and len(response.json()["predictions"]) == 2
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    spans = [span for span in printed.read_text().split("\n}\n") if f'"trace_id": "0x{TRACE_ID}"' in span]
    names = {json.loads(span + "}")["name"] for span in spans}
    assert {"POST /v1/names/predict", "decode", "queue", "forward", "encode"} <= names


async def test_tracing_on_keeps_answers_and_headers(spans: InMemorySpanExporter) -> None:
    async with running_app(make_settings(models=["names-gru"], opentelemetry=True)) as (_, client):
        response = await client.post("/v1/names/predict", json=NAMES_BODY, headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200 and len(response.json()["predictions"]) == 2
    assert "x-request-id" in response.headers and "server-timing" in response.headers
