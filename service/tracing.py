"""OpenTelemetry spans along a request's path: a server span, stage children, one forward span per batch.

Off by default. Every helper reads the module-level ``_tracer`` first and, while it is None, returns a
shared no-op context (or None) without building a span, a context or an attribute dict: an untraced
server pays one global lookup per call.

On (``configure(True)``), spans go to a tracer provider of this module's own, built from the SDK's
standard ``OTEL_*`` variables (exporter, endpoint, sampler, resource, batch processor). Not the global
provider: ``configure`` may run again (tests, a second app in one process), and FastAPI's own
``telemetry=`` switch, which only acts once a global provider exists, then stays idle instead of
opening a second server span per request.

How a request's spans fit together::

    POST /v1/models/{name}/predict   (SERVER; parent: the caller's traceparent, if any)
      decode                         (stage)
      queue                          (from submit until its batch's forward starts; linked to that forward)
      encode                         (stage)
    forward                          (one per batch; child of the batch's first request,
                                      linked to every request in the batch)

The batch worker runs on a thread of its own, where no request's context is current: requests hand
their context over in a ``QueueTicket`` from ``enqueued()``, and ``forward()`` takes the batch's tickets.
"""

import importlib.metadata
import os
import re
import threading
from collections.abc import Iterable, Iterator, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

from service import __version__

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

Scope = MutableMapping[str, Any]  # an ASGI scope; typed here so the runtime need not import Starlette
Stage = Literal["decode", "prepare", "encode"]

# Span attribute names, shared with the tests and the docs.
MODEL = "tinyserve.model"
VERSION = "tinyserve.model.version"
BATCH_SIZE = "tinyserve.batch.size"  # rows in the forward
BATCH_REQUESTS = "tinyserve.batch.requests"  # requests whose rows the forward carries
DEVICE = "tinyserve.device"
GRAPH = "tinyserve.graph"
SPAN_STATE_KEY = "tinyserve.server_span"  # where server_span() leaves its span in scope["state"]

_tracer: trace.Tracer | None = None
_provider: "TracerProvider | None" = None
_NOOP: AbstractContextManager[None] = nullcontext()
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
_SDK_HINT = "pip install 'tinyserve[otel]', or set TINYSERVE_OPENTELEMETRY=false"


class TracingUnavailableError(RuntimeError):
    """Tracing was asked for, but the SDK or the exporter named in OTEL_TRACES_EXPORTER is missing."""


# ---- set-up ----


def configure(enabled: bool, *, exporter: "SpanExporter | None" = None) -> None:
    """Turn tracing on or off for the process, at app start; raises TracingUnavailableError without the SDK.

    ``exporter`` (tests: the SDK's InMemorySpanExporter) replaces the exporters OTEL_TRACES_EXPORTER
    names, and is replaced only by another explicit one or by turning tracing off: ``configure(True)``
    while tracing is on keeps the set-up, so a test's exporter outlives the app's start.
    """
    global _tracer, _provider
    if enabled and exporter is None and _tracer is not None:
        return
    shutdown()
    if not enabled:
        return
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    except ImportError as error:
        raise TracingUnavailableError(
            f"TINYSERVE_OPENTELEMETRY=true needs the OpenTelemetry SDK: {_SDK_HINT}"
        ) from error
    resource = Resource.create({"service.version": __version__})  # reads OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "tinyserve"}))
    provider = TracerProvider(resource=resource)  # reads OTEL_TRACES_SAMPLER(_ARG) and the span limits
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        _add_env_exporters(provider)
    _provider = provider
    _tracer = provider.get_tracer("tinyserve", __version__)


def shutdown() -> None:
    """Stop tracing and flush what the exporters still hold; call when the app stops."""
    global _tracer, _provider
    provider, _tracer, _provider = _provider, None, None
    if provider is not None:
        provider.shutdown()


def is_enabled() -> bool:
    return _tracer is not None


def _add_env_exporters(provider: "TracerProvider") -> None:
    """OTEL_TRACES_EXPORTER as the SDK reads it: comma-separated, default otlp; none = no exporter."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    names = [name.strip() for name in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if name.strip()]
    for name in names:
        if name == "none":
            continue
        entry_point = _exporter_entry_point(name)
        exporter = entry_point.load()()
        # The console is for a quick look: print each span as it ends rather than every few seconds.
        processor = SimpleSpanProcessor if name == "console" else BatchSpanProcessor
        provider.add_span_processor(processor(exporter))


def _exporter_entry_point(name: str) -> importlib.metadata.EntryPoint:
    lookup = name
    if name == "otlp":  # otlp means the protocol OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL names, http/protobuf by default
        protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
        )
        lookup = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc"}.get(protocol, protocol)
    found = importlib.metadata.entry_points(group="opentelemetry_traces_exporter", name=lookup)
    if not found:
        raise TracingUnavailableError(
            f"OTEL_TRACES_EXPORTER={name} needs the exporter {lookup!r}, which is not installed: "
            f"tinyserve[otel] brings otlp (http/protobuf) and console; {_SDK_HINT}"
        )
    return next(iter(found))


# ---- the request side (event loop) ----


class ServerSpan:
    """The server span of one HTTP request; the caller reports the status it sends."""

    __slots__ = ("span", "status")

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self.status: int | None = None

    def set_status(self, status: int) -> None:
        self.status = status


class _AsgiHeaders(Getter[Scope]):
    """Reads W3C traceparent / tracestate (and whatever OTEL_PROPAGATORS names) from ASGI headers."""

    def get(self, carrier: Scope, key: str) -> list[str] | None:
        name = key.lower().encode("latin-1")
        values = [value.decode("latin-1") for header, value in carrier["headers"] if header == name]
        return values or None

    def keys(self, carrier: Scope) -> list[str]:
        return [header.decode("latin-1") for header, _ in carrier["headers"]]


_ASGI_HEADERS = _AsgiHeaders()


def server_span(scope: Scope) -> AbstractContextManager[ServerSpan | None]:
    """A SERVER span around one HTTP request, continuing the caller's trace from its traceparent.

    The span is current inside the block (stage spans and the access log find it) and left in
    ``scope["state"]``; it is named ``METHOD route`` once routing has put the route in the scope.
    """
    tracer = _tracer
    if tracer is None:
        return _NOOP
    return _server_span(tracer, scope)


@contextmanager
def _server_span(tracer: trace.Tracer, scope: Scope) -> Iterator[ServerSpan]:
    parent = propagate.extract(scope, getter=_ASGI_HEADERS)
    method = scope.get("method", "HTTP")
    attributes = {
        "http.request.method": method,
        "url.path": scope.get("path", ""),
        "url.scheme": scope.get("scheme", "http"),
    }
    span = tracer.start_span(method, context=parent, kind=SpanKind.SERVER, attributes=attributes)
    handle = ServerSpan(span)
    scope.setdefault("state", {})[SPAN_STATE_KEY] = span
    try:
        with trace.use_span(span, record_exception=True, set_status_on_exception=True):
            yield handle
    finally:
        route = getattr(scope.get("route"), "path", None)
        if route is not None:
            span.set_attribute("http.route", route)
            span.update_name(f"{method} {route}")
        if handle.status is not None:
            span.set_attribute("http.response.status_code", handle.status)
            if handle.status >= 500:
                span.set_status(Status(StatusCode.ERROR))
        span.end()


class TracingMiddleware:
    """Pure ASGI: a server span per HTTP request around everything inside it (access log included).

    Add it last (outermost) with ``app.add_middleware(TracingMiddleware)``; it passes requests
    straight through while tracing is off.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        tracer = _tracer
        if tracer is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with _server_span(tracer, scope) as span:

            async def send_status(message: MutableMapping[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    span.set_status(message["status"])
                await send(message)

            await self.app(scope, receive, send_status)


def stage(name: Stage, *, model: str | None = None, version: str | int | None = None) -> AbstractContextManager[object]:
    """A child span of the current one for a stage that runs in the request's task (decode, encode)."""
    tracer = _tracer
    if tracer is None:
        return _NOOP
    return tracer.start_as_current_span(name, attributes=_model_attributes(model, version))


class QueueTicket:
    """A request's context handed to the batch worker, and its ``queue`` span, open until the forward starts."""

    __slots__ = ("request", "span", "_open")

    def __init__(self, request: SpanContext, span: trace.Span) -> None:
        self.request = request
        self.span = span
        self._open = threading.Lock()  # held once ended: end() may race between the worker and a timeout

    def end(self, error: BaseException | None = None) -> None:
        """End the queue span (idempotent); with ``error`` when the request left the queue without a forward."""
        if not self._open.acquire(blocking=False):
            return
        if error is not None:
            self.span.record_exception(error)
            self.span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        self.span.end()

    def _served_by(self, forward: SpanContext) -> None:
        """End the queue span where its forward starts, linked to it; not if the request left already."""
        if self._open.acquire(blocking=False):
            self.span.add_link(forward)
            self.span.end()


def enqueued(*, model: str | None = None, version: str | int | None = None) -> QueueTicket | None:
    """Open the ``queue`` span as a child of the current span; None while tracing is off."""
    tracer = _tracer
    if tracer is None:
        return None
    request = trace.get_current_span().get_span_context()
    return QueueTicket(request, tracer.start_span("queue", attributes=_model_attributes(model, version)))


# ---- the batch side (the batcher's thread) ----


def forward(
    tickets: Iterable[QueueTicket | None],
    *,
    model: str,
    version: str | int | None,
    batch_size: int,
    device: str,
    graph: str,
) -> AbstractContextManager[object]:
    """The ``forward`` span of one batch, current inside the block; ends each request's ``queue`` span.

    A child of the batch's first request (so a lone request's trace holds its forward), with a link
    to every request in the batch, and a link from each request's queue span back to it. Without
    tickets (warm-up, golden checks, or tracing turned on mid-queue) no span is made.
    """
    tracer = _tracer
    if tracer is None:
        return _NOOP
    queued = [ticket for ticket in tickets if ticket is not None]
    if not queued:
        return _NOOP
    attributes = _model_attributes(model, version)
    attributes |= {BATCH_SIZE: batch_size, BATCH_REQUESTS: len(queued), DEVICE: device, GRAPH: graph}
    links = [Link(ticket.request) for ticket in queued if ticket.request.is_valid]
    parent = trace.set_span_in_context(trace.NonRecordingSpan(queued[0].request))
    span = tracer.start_span("forward", context=parent, links=links, attributes=attributes)
    for ticket in queued:
        ticket._served_by(span.get_span_context())
    return trace.use_span(span, end_on_exit=True, record_exception=True, set_status_on_exception=True)


def _model_attributes(model: str | None, version: str | int | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if model is not None:
        attributes[MODEL] = model
    if version is not None:
        attributes[VERSION] = str(version)
    return attributes


# ---- ids for the access log ----


def current_ids(scope: Scope) -> tuple[str, str] | None:
    """(trace_id, span_id) as lowercase hex for a request's log line, or None.

    With tracing on: the server's own span (from the scope, or the current one). Otherwise, or when
    no span was made: the caller's traceparent, so the line joins the caller's trace.
    """
    if _tracer is not None:
        state = scope.get("state")
        span = state.get(SPAN_STATE_KEY) if isinstance(state, dict) else None
        context = (span or trace.get_current_span()).get_span_context()
        if context.is_valid:
            return f"{context.trace_id:032x}", f"{context.span_id:016x}"
    for header, value in scope["headers"]:
        if header == b"traceparent":
            return parse_traceparent(value)
    return None


def parse_traceparent(value: bytes | str) -> tuple[str, str] | None:
    """(trace_id, parent span_id) from a W3C traceparent value, or None when it is malformed."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    match = _TRACEPARENT.match(text.strip())
    if match is None:
        return None
    version, trace_id, span_id, _, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return trace_id, span_id
