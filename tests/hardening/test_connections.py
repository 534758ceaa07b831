"""Connection hygiene against a real `tinyserve serve`: read deadlines, bounded pipelining, a connection cap."""

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import running_server

READ_TIMEOUT_S = 1.0
GET = b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int, int]]:
    """One worker with a 1 s read deadline and at most 4 connections: (host, port, pid)."""
    with running_server(TINYSERVE_READ_TIMEOUT_S=str(READ_TIMEOUT_S), TINYSERVE_MAX_CONNECTIONS="4") as (
        base,
        process,
    ):
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port), process.pid


def connect(server: tuple[str, int, int]) -> socket.socket:
    return socket.create_connection(server[:2], timeout=10)


def read_response(sock: socket.socket, pending: bytearray | None = None) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body; ``pending`` holds bytes read past it."""
    buffer = pending if pending is not None else bytearray()
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed after {bytes(buffer)!r}"
        buffer += chunk
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    end = len(head) + 4 + int(headers["content-length"])
    while len(buffer) < end:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed inside a body"
        buffer += chunk
    body = bytes(buffer[len(head) + 4 : end])
    del buffer[:end]
    return int(status_line.split()[1]), headers, body


def closed_within(sock: socket.socket, seconds: float) -> bytes:
    """Everything the server sends until it closes the connection; fails if it stays open ``seconds``."""
    sock.settimeout(seconds)
    received = bytearray()
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"the connection was still open after {seconds} s (received {bytes(received)!r})")
    return bytes(received)


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /health/live HTTP/1.1\r\nHost: te", b"GET /health/live HTTP/1.1\r\nHost: test\r\n"],
    ids=["nothing", "half a request line and header", "headers without their end"],
)
def test_a_request_that_never_arrives_whole_gets_408_and_is_closed(server: tuple[str, int, int], sent: bytes) -> None:
    with connect(server) as sock:
        sock.sendall(sent)
        received = closed_within(sock, READ_TIMEOUT_S + 10)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout"), received
    error = json.loads(body)["error"]
    assert error["type"] == "request_timeout"
    assert error["message"] == "the request did not arrive within 1 s; send the whole request at once"


def test_a_body_that_never_arrives_whole_is_closed(server: tuple[str, int, int]) -> None:
    with connect(server) as sock:
        sock.sendall(
            b"POST /v1/digits/predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"images": ['
        )
        closed_within(sock, READ_TIMEOUT_S + 10)


def test_a_slow_client_after_a_whole_request_is_still_answered(server: tuple[str, int, int]) -> None:
    """The deadline is per request: a connection that answered one request starts afresh."""
    with connect(server) as sock:
        sock.sendall(GET)
        assert read_response(sock)[0] == 200
        time.sleep(READ_TIMEOUT_S * 1.5)  # idle between requests: the keep-alive timer's business
        sock.sendall(GET)
        status, _, body = read_response(sock)
        assert status == 200 and json.loads(body) == {"status": "alive"}


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def pipeline(sock: socket.socket, requests: int, pid: int) -> int:
    """Send ``requests`` GETs without waiting, reading the answers as they come; the peak RSS of ``pid`` meanwhile."""
    sender = threading.Thread(target=lambda: sock.sendall(GET * requests), daemon=True)
    sender.start()
    answered, tail, peak, deadline = 0, b"", 0, time.monotonic() + 300
    while answered < requests and time.monotonic() < deadline:
        chunk = sock.recv(1 << 20)
        assert chunk, f"the connection closed after {answered} answers"
        data = tail + chunk
        answered += data.count(b"HTTP/1.1 200 OK")
        tail = data[-14:]  # a status line cut in two is counted with the next chunk (a whole one is longer)
        peak = max(peak, rss_bytes(pid))
    sender.join(60)
    assert answered == requests
    return max(peak, rss_bytes(pid))


def test_100k_pipelined_requests_on_one_connection_keep_memory_bounded(server: tuple[str, int, int]) -> None:
    pid = server[2]
    with connect(server) as sock:
        sock.settimeout(60)
        # The first tens of thousands of requests of any kind raise RSS to a plateau (allocator arenas,
        # caches): measure from there, so that what grows is what pipelining holds.
        pipeline(sock, 20_000, pid)
        before = rss_bytes(pid)
        growth_mib = (pipeline(sock, 100_000, pid) - before) / 2**20
    assert growth_mib < 100, f"RSS grew by {growth_mib:.0f} MiB"


def test_connections_past_the_cap_get_a_clear_503_and_the_others_still_work(server: tuple[str, int, int]) -> None:
    held = [connect(server) for _ in range(4)]
    try:
        for sock in held:
            sock.sendall(GET)
            assert read_response(sock)[0] == 200
        with connect(server) as extra:
            extra.sendall(GET)
            status, headers, body = read_response(extra)
            assert status == 503 and headers["connection"] == "close"
            error = json.loads(body)["error"]
            assert error["type"] == "overloaded"
            assert error["message"] == (
                "this worker has 4 connections open, its limit; retry shortly or reuse a connection"
            )
            closed_within(extra, 10)
        for sock in held:
            sock.sendall(GET)
            assert read_response(sock)[0] == 200
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while True:  # once the server has seen them close, a new connection is served
        with connect(server) as sock:
            sock.sendall(GET)
            status = read_response(sock)[0]
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 200
