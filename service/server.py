"""uvicorn's server and worker supervisor, with a shutdown that loses no connection the kernel has made.

On SIGTERM uvicorn closes its listening socket at once. Connections the kernel has already
completed but the server has not yet accepted wait in the socket's accept queue, and Linux resets
them when the socket closes: clients that connected just before the signal see a reset, never an
answer. Here the queue is emptied first and those connections are served like the others (their
first request gets the grace ``service/connections.py`` gives fresh connections). Before that, with
one worker, the listening socket stops taking new connection requests (a socket filter drops bare
SYNs: their clients see a refused connection, not a reset after sending) while handshakes already
under way complete, so that none is left half-made when the socket closes.

``run`` replaces ``uvicorn.run`` for ``tinyserve serve``: one worker runs the server in this
process; several run under uvicorn's supervisor, whose workers build this server too.
"""

import asyncio
import contextlib
import ctypes
import functools
import os
import signal
import socket
import struct
import sys

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import multiprocess

# Classic BPF over the TCP header: accept a segment with ACK set, drop one with SYN alone (a new
# connection request), accept the rest.
_DROP_NEW_CONNECTIONS = [
    (0x30, 0, 0, 13),  # ldb [13]: the flags byte
    (0x45, 2, 0, 0x10),  # jset ACK -> accept
    (0x45, 0, 1, 0x02),  # jset SYN -> drop, else accept
    (0x06, 0, 0, 0),  # ret 0: drop
    (0x06, 0, 0, 0xFFFFFFFF),  # ret all: accept
]
SO_ATTACH_FILTER = 26  # Linux
# How long handshakes under way get to complete once new ones are refused: one round trip.
HANDSHAKE_SETTLE_S = 0.2


def refuse_new_connections(fileno: int) -> bool:
    """Make the listening socket ``fileno`` drop new connection requests; False where it cannot (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    program = b"".join(struct.pack("HBBI", *instruction) for instruction in _DROP_NEW_CONNECTIONS)
    buffer = ctypes.create_string_buffer(program)
    fprog = struct.pack("HL", len(_DROP_NEW_CONNECTIONS), ctypes.addressof(buffer))
    with socket.socket(fileno=os.dup(fileno)) as listener:
        try:
            listener.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        except OSError:
            return False
    return True


class DrainingServer(uvicorn.Server):
    """uvicorn's server whose shutdown accepts and serves what waits in the accept queue."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Several workers share one listening socket, and one worker may stop alone: only a single
        # worker may close the door for all.
        if self.config.workers <= 1:
            filtered = [refuse_new_connections(sock.fileno()) for server in self.servers for sock in server.sockets]
            if any(filtered):
                await asyncio.sleep(HANDSHAKE_SETTLE_S)  # the event loop accepts what completes meanwhile
        queued = self._accept_queued_and_stop_listening(sockets or [])
        loop = asyncio.get_running_loop()
        protocol = functools.partial(
            self.config.http_protocol_class,  # type: ignore[call-arg]
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
        )
        await asyncio.gather(
            *(loop.connect_accepted_socket(protocol, conn, ssl=self.config.ssl) for conn in queued),
            return_exceptions=True,  # a client that has gone meanwhile is not served, and stops nothing
        )
        # Closing the servers and sockets again is harmless; then every connection is drained.
        await super().shutdown(sockets)

    def _accept_queued_and_stop_listening(self, sockets: list[socket.socket]) -> list[socket.socket]:
        """Accept every queued connection, then close the listening sockets, with no await between:
        the event loop would otherwise queue more meanwhile, and those would be reset."""
        # The loop's server sockets cannot accept themselves (uvloop hands out stand-ins that only
        # know their descriptor): accept on a duplicate of each, closed with the listener.
        listeners = [socket.socket(fileno=os.dup(sock.fileno())) for server in self.servers for sock in server.sockets]
        queued: list[socket.socket] = []
        for listener in listeners:
            listener.setblocking(False)
            while True:
                try:
                    conn, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:  # e.g. out of descriptors: what is left is lost as before
                    break
                conn.setblocking(False)
                queued.append(conn)
        for server in self.servers:
            server.close()
        for sock in [*listeners, *sockets]:
            sock.close()
        return queued


class DrainingWorker(multiprocess.Process):
    """A worker process of uvicorn's supervisor that runs ``DrainingServer``."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = DrainingServer(config=self.config)
        return self._server


class Supervisor(multiprocess.Multiprocess):
    """uvicorn's supervisor for ``DrainingWorker`` processes, with tinyserve's SIGHUP and SIGTERM."""

    def handle_hup(self) -> None:
        """uvicorn's supervisor answers SIGHUP by restarting every worker; tinyserve's workers reload their
        models in place on it (service/runtime/triggers.py), so the supervisor passes the signal on instead."""
        for process in self.processes:
            if process.pid is not None:
                os.kill(process.pid, signal.SIGHUP)

    def terminate_all(self) -> None:
        super().terminate_all()
        # The listening socket lives while any process holds it; the supervisor's copy would keep
        # it open (queuing connections that are then reset) after the last worker has emptied it.
        for sock in self.sockets:
            sock.close()


def run(config: uvicorn.Config) -> None:
    """What ``uvicorn.run`` does with ``config`` (no reload, no Unix socket), with the servers above."""
    if config.workers > 1:
        # uvicorn's supervisor builds its workers by this module-level name, in four places.
        multiprocess.Process = DrainingWorker  # type: ignore[misc]
        sock = config.bind_socket()
        with contextlib.suppress(KeyboardInterrupt):
            Supervisor(config, sockets=[sock]).run()
        return
    config.load_app()
    server = DrainingServer(config=config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
