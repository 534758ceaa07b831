"""Open HTTP connections in this worker process: the load signal that lets an idle server skip batching.

HTTP/1.1 answers one request at a time per connection (uvicorn runs pipelined requests in
turn), so a worker with one open connection has exactly one request in flight. Handing that
request to the batcher thread can only add two thread wake-ups; running its forward pass on
the event loop is strictly faster. The count needs the server's protocol hooks, so it is only
known when ``tinyserve serve`` starts uvicorn with ``CountingHttpProtocol``; under any other
server the gauge stays untracked and every request goes through the batcher.
"""

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# What ``tinyserve serve`` passes as uvicorn's ``http``: an import string, so that worker processes
# started by uvicorn's supervisor can import it too.
PROTOCOL = "service.connections:CountingHttpProtocol"


class ConnectionGauge:
    def __init__(self) -> None:
        self.open = 0
        self.tracked = False  # True once a counting protocol has been built in this process

    def serving_one_client(self) -> bool:
        """True when the one request being answered is the only one this worker can have in flight."""
        return self.tracked and self.open == 1


OPEN_CONNECTIONS = ConnectionGauge()


class CountingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, counting its connections in ``OPEN_CONNECTIONS``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        OPEN_CONNECTIONS.tracked = True
        OPEN_CONNECTIONS.open += 1
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        OPEN_CONNECTIONS.open -= 1
        super().connection_lost(exc)
