"""The stopping server's listener: new connection requests are dropped, connections already made go on."""

import socket

import pytest

from service.server import refuse_new_connections


def test_a_listener_that_refuses_new_connections_keeps_the_ones_it_has() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        address = listener.getsockname()
        with socket.create_connection(address, timeout=5) as before:
            assert refuse_new_connections(listener.fileno())
            with pytest.raises(TimeoutError):  # the SYN is dropped: no connection, nothing sent
                socket.create_connection(address, timeout=0.5)
            accepted, _ = listener.accept()  # made before: still in the accept queue, and served
            with accepted:
                before.sendall(b"request")
                assert accepted.recv(16) == b"request"
                accepted.sendall(b"answer")
                assert before.recv(16) == b"answer"
