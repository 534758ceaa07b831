"""One pure-ASGI middleware for what every request needs: request id, body limit, metrics, access log.

Pure ASGI (not BaseHTTPMiddleware) because it runs on every request and must cost microseconds.
"""

import itertools
import logging
import re
import secrets
import time

from fastapi import HTTPException
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import metrics, tracing
from service.api.errors import error_response

access_logger = logging.getLogger("tinyserve.access")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# uvicorn's httptools parser takes headers of any size: refuse past this.
MAX_HEADER_BYTES = 16 * 1024
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, access_log: bool) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        # A random prefix per app instance (so per worker and per start) and a counter: unique ids
        # without uuid4's os.urandom call on every request.
        self._id_prefix = secrets.token_hex(8)
        self._id_counter = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = self._request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            header_bytes = sum(map(len, itertools.chain.from_iterable(scope["headers"])))
            if header_bytes > MAX_HEADER_BYTES:
                message = f"request headers of {header_bytes} bytes are over the {MAX_HEADER_BYTES} byte limit"
                response = error_response(431, "headers_too_large", message, request_id)
                await response(scope, receive, send_with_id)
                return
            declared = _content_length(scope)
            if declared is not None and declared > self.max_body_bytes:
                response = error_response(
                    413,
                    "payload_too_large",
                    f"request body of {declared} bytes is over the {self.max_body_bytes} byte limit",
                    request_id,
                )
                await response(scope, receive, send_with_id)
                return
            await self.app(scope, self._limited(receive), send_with_id)
        finally:
            self._record(scope, state, status, time.perf_counter() - started)

    def _request_id(self, scope: Scope) -> str:
        given = header(scope, b"x-request-id")
        if given:
            text = given.decode("latin-1")
            if _SAFE_REQUEST_ID.match(text):
                return text
        return f"{self._id_prefix}{next(self._id_counter):016x}"

    def _limited(self, receive: Receive) -> Receive:
        """Count body bytes as they arrive: a body without Content-Length is capped too."""
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(413, f"request body is over the {self.max_body_bytes} byte limit")
            return message

        return limited_receive

    def _record(self, scope: Scope, state: dict[str, object], status: int, elapsed: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        method = scope["method"] if scope["method"] in _KNOWN_METHODS else "other"  # clients choose methods
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:  # labels() takes a lock and builds a key: once per label set, not per request
            children = metrics.REQUESTS.labels(route, method, str(status)), metrics.REQUEST_SECONDS.labels(route)
            self._children[key] = children
        children[0].inc()
        children[1].observe(elapsed)
        if self.access_log:
            # The server's span while tracing, else the caller's traceparent: the line joins its trace.
            trace_id, span_id = tracing.current_ids(scope) or (None, None)
            access_logger.info(
                "request",
                extra={
                    "fields": {
                        "request_id": state["request_id"],
                        "trace_id": trace_id,
                        "span_id": span_id,
                        "method": scope["method"],
                        "route": route,
                        "status": status,
                        "latency_ms": round(elapsed * 1000, 3),
                        "model": state.get("model"),
                        "batch_size": state.get("batch_size"),
                    }
                },
            )


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case), read without building a Headers object."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _content_length(scope: Scope) -> int | None:
    value = header(scope, b"content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
