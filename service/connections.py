"""The HTTP protocol ``tinyserve serve`` runs: uvicorn's httptools protocol plus what it lacks.

- **Open connections are counted** in ``OPEN_CONNECTIONS``, the load signal that lets an idle
  server skip batching. HTTP/1.1 answers one request at a time per connection (uvicorn runs
  pipelined requests in turn), so a worker with one open connection has exactly one request in
  flight. Handing it to the batcher thread can only add two thread wake-ups; running its forward
  pass on the event loop is strictly faster. Under any other server the gauge stays untracked and
  every request goes through the batcher.
- **Pipelining is bounded**: uvicorn queues every request it parses and reads on after each
  answer, so a client that sends requests faster than it reads answers grows the queue without
  end. Here reading stops once ``MAX_PIPELINED`` requests wait, and the unparsed bytes are held
  until the queue drains.
- **Requests must arrive in time**: uvicorn's keep-alive timer starts only after an answer, so a
  connection that sends nothing, half a header or half a body stayed open for ever. Here a
  request's headers and body must all arrive within ``read_timeout_s`` of its first byte (of the
  connection's opening, for the first request), or it gets a 408 and the connection is closed.
- **Connections per worker are capped**: past ``max_connections``, a new connection gets a 503
  at once and is closed. (uvicorn's ``limit_concurrency`` counts the new connection among the
  open ones and then refuses the requests of every connection, not only the new one.)
- **Shutdown loses no request on its way**: on SIGTERM uvicorn closes at once every connection
  with no request under way, including a fresh one whose first request is on the wire or unread in
  its buffer, and its client sees a reset. Here a connection that has not yet begun a request
  (or is halfway through one) gets ``SHUTDOWN_GRACE_S`` to send it; it is answered with keep-alive
  off, then closed. Idle keep-alive connections still close at once.
"""

import asyncio
import functools
from dataclasses import dataclass

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# What ``tinyserve serve`` passes as uvicorn's ``http``: an import string, so that worker processes
# started by uvicorn's supervisor can import it too.
PROTOCOL = "service.connections:CountingHttpProtocol"
# Requests parsed and waiting behind the one being answered, on one connection.
MAX_PIPELINED = 32
# Bytes parsed at a time while a connection pipelines: a few dozen small requests at most.
PIPELINE_STEP = 4096
# A refused connection's client gets this long to read the 503 before the socket closes.
REFUSAL_LINGER_S = 1.0
# At shutdown, how long a connection that has not sent its request yet gets to send it.
SHUTDOWN_GRACE_S = 1.0


class ConnectionGauge:
    def __init__(self) -> None:
        self.open = 0
        self.tracked = False  # True once a counting protocol has been built in this process

    def serving_one_client(self) -> bool:
        """True when the one request being answered is the only one this worker can have in flight."""
        return self.tracked and self.open == 1


OPEN_CONNECTIONS = ConnectionGauge()


@dataclass(frozen=True)
class ConnectionLimits:
    read_timeout_s: float
    max_connections: int


@functools.cache
def configured_limits() -> ConnectionLimits:
    """The limits from this worker's settings (TINYSERVE_READ_TIMEOUT_S, TINYSERVE_MAX_CONNECTIONS)."""
    from service.settings import get_settings  # the protocol is built by uvicorn, after the environment is final

    settings = get_settings()
    return ConnectionLimits(settings.read_timeout_s, settings.max_connections)


def _error_response(status: int, reason: str, kind: str, message: str) -> bytes:
    body = orjson.dumps({"error": {"type": kind, "message": message, "request_id": None}})
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\nconnection: close\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class CountingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a connection count, bounded pipelining, a read deadline and a cap."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        OPEN_CONNECTIONS.tracked = True
        OPEN_CONNECTIONS.open += 1
        self._limits = configured_limits()
        self._held = b""  # bytes not yet parsed because the pipeline is full
        self._in_message = False  # a request's first byte has been parsed, its last not yet
        self._read_deadline: asyncio.TimerHandle | None = None  # at most one, re-armed lazily (see _read_timed_out)
        self._read_started: float | None = None  # when the awaited request's time began; None: none is awaited
        self._requests_begun = 0
        self._shutdown_grace: asyncio.TimerHandle | None = None  # set while shutting down, until a request comes
        self._refused = OPEN_CONNECTIONS.open > self._limits.max_connections
        super().connection_made(transport)
        if self._refused:
            self._refuse()
        else:
            self._start_read_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        OPEN_CONNECTIONS.open -= 1
        self._cancel_read_deadline()
        self._end_shutdown_grace()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # discarded: the 503 is on its way and the socket closes soon
        if self._held:  # reading was resumed (by the app reading a body) while requests wait
            self._held += data
            self.flow.pause_reading()
            return
        if len(self.pipeline) + data.count(b"\r\n\r\n") < MAX_PIPELINED:  # the usual case: a request or a few
            super().data_received(data)
        else:
            self._feed(data)

    def on_message_begin(self) -> None:
        self._in_message = True
        self._requests_begun += 1
        if self._read_started is None:  # the first request's time runs from the connection's opening
            self._start_read_clock()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self._shutdown_grace is not None and self.cycle is not None:
            self.cycle.keep_alive = False  # the request the grace waited for: answer it, then close
            self._end_shutdown_grace()

    def on_message_complete(self) -> None:
        self._in_message = False
        self._read_started = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # starts the next pipelined request and resumes reading
        if self.transport.is_closing():
            return
        if self._held and len(self.pipeline) < MAX_PIPELINED:
            held, self._held = self._held, b""
            self._feed(held)
        if self._held or len(self.pipeline) >= MAX_PIPELINED:
            self.flow.pause_reading()

    def shutdown(self) -> None:
        """Called by the server on SIGTERM: close now unless a request may be on its way."""
        idle = self.cycle is None or self.cycle.response_complete
        awaiting_request = self._requests_begun == 0 or self._in_message  # not an idle keep-alive connection
        if idle and awaiting_request and not self._refused and not self.transport.is_closing():
            self._shutdown_grace = self.loop.call_later(SHUTDOWN_GRACE_S, self._shutdown_grace_over)
            return
        super().shutdown()

    def _shutdown_grace_over(self) -> None:
        self._shutdown_grace = None
        if self.cycle is None or self.cycle.response_complete:  # no whole request came: nothing to answer
            self.transport.close()

    def _end_shutdown_grace(self) -> None:
        if self._shutdown_grace is not None:
            self._shutdown_grace.cancel()
            self._shutdown_grace = None

    def _feed(self, data: bytes) -> None:
        """Parse ``data`` a step at a time, holding the rest once ``MAX_PIPELINED`` requests wait."""
        view = memoryview(data)
        for start in range(0, len(view), PIPELINE_STEP):
            if len(self.pipeline) >= MAX_PIPELINED:
                self._held = bytes(view[start:])
                self.flow.pause_reading()
                self._read_started = None  # the rest waits on this server, not on the client
                return
            super().data_received(bytes(view[start : start + PIPELINE_STEP]))
            if self.transport.is_closing():
                return
        if self._in_message:
            self._start_read_clock()

    def _start_read_clock(self) -> None:
        """The awaited request's time starts now. Arming a timer per request cost more than the rest of
        this class, so one timer per connection is kept and moved on only when it fires early."""
        self._read_started = self.loop.time()
        if self._read_deadline is None:
            self._read_deadline = self.loop.call_later(self._limits.read_timeout_s, self._read_timed_out)

    def _cancel_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self._read_started is None or self.transport.is_closing():
            return  # no request is awaited: an idle connection is the keep-alive timer's business
        left = self._read_started + self._limits.read_timeout_s - self.loop.time()
        if left > 0:  # set for an earlier request; this one has time left
            self._read_deadline = self.loop.call_later(left, self._read_timed_out)
            return
        if self.cycle is None or self.cycle.response_complete:  # no answer under way: say why
            timeout = self._limits.read_timeout_s
            message = f"the request did not arrive within {timeout:g} s; send the whole request at once"
            self.transport.write(_error_response(408, "Request Timeout", "request_timeout", message))
        self.transport.close()

    def _refuse(self) -> None:
        limit = self._limits.max_connections
        message = f"this worker has {limit} connections open, its limit; retry shortly or reuse a connection"
        self.transport.write(_error_response(503, "Service Unavailable", "overloaded", message))
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the client reads the answer, then sees the end
        self.loop.call_later(REFUSAL_LINGER_S, self.transport.close)
