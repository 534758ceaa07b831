"""Log lines are JSON, written in batches off the event loop, and none is lost."""

import io
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from service.logs import PIPE_BUF, BufferedLineHandler, JSONFormatter, configure_logging, fit_line

from .conftest import wait_until


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO, BufferedLineHandler]]:
    stream = io.StringIO()
    handler = BufferedLineHandler(stream, interval_s=0.05)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("tinyserve.test-logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, stream, handler
    logger.removeHandler(handler)
    handler.close()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_info_lines_are_written_in_a_batch_soon_after(
    logged: tuple[logging.Logger, io.StringIO, BufferedLineHandler],
) -> None:
    logger, stream, _ = logged
    for i in range(3):
        logger.info("request", extra={"fields": {"n": i}})
    await wait_until(lambda: len(lines(stream)) == 3, timeout=2)
    assert [line["n"] for line in lines(stream)] == [0, 1, 2]
    assert lines(stream)[0]["message"] == "request" and lines(stream)[0]["level"] == "info"


async def test_warnings_are_written_at_once_with_what_came_before() -> None:
    """A warning wakes the writer thread: it does not wait for the interval, nor write in the caller."""
    stream = io.StringIO()
    handler = BufferedLineHandler(stream, interval_s=3600)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("tinyserve.test-logs-warning")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("before")
        logger.warning("now")
        await wait_until(lambda: len(lines(stream)) == 2, timeout=2)
        assert [line["message"] for line in lines(stream)] == ["before", "now"]
    finally:
        logger.removeHandler(handler)
        handler.close()


def quiet_handler(stream: io.StringIO, max_pending: int = 10_000) -> tuple[logging.Logger, BufferedLineHandler]:
    """A handler whose writer thread sleeps for an hour: info lines stay pending until close."""
    handler = BufferedLineHandler(stream, interval_s=3600, max_pending=max_pending)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("tinyserve.test-logs-quiet")
    logger.handlers.clear()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, handler


def test_close_writes_what_is_pending() -> None:
    stream = io.StringIO()
    logger, handler = quiet_handler(stream)
    logger.info("last words")
    assert stream.getvalue() == ""
    handler.close()
    logger.removeHandler(handler)
    assert [line["message"] for line in lines(stream)] == ["last words"]


async def test_configuring_again_closes_the_previous_writer() -> None:
    configure_logging("info")
    configure_logging("info")
    writers = [thread for thread in threading.enumerate() if thread.name == "log-writer"]
    await wait_until(lambda: sum(t.is_alive() for t in writers) == 1, timeout=2)


# ---- whole lines, never blocking (issue #23) ----


def test_a_long_traceback_is_cut_to_fit_one_atomic_write() -> None:
    try:
        raise ValueError("the end of the story")
    except ValueError:
        record = logging.LogRecord("tinyserve.x", logging.ERROR, __file__, 1, "failed: %s", ("x" * 9000,), None)
        record.exc_info = sys.exc_info()
    record.fields = {"request_id": "r1"}  # type: ignore[attr-defined]
    line = JSONFormatter().format(record)
    assert len(line.encode()) + 1 <= PIPE_BUF
    entry = json.loads(line)
    assert entry["truncated"] is True and entry["request_id"] == "r1"
    assert entry["message"].startswith("failed: xxx") and entry["message"].endswith("...")
    assert entry["traceback"].endswith("ValueError: the end of the story")


def test_non_ascii_and_escaped_fields_still_fit() -> None:
    entry = {"ts": "t", "level": "info", "logger": "l", "message": "é\n\u0000" * 5000, "other": "王" * 3000}
    line = fit_line(entry, PIPE_BUF - 1)
    assert len(line) <= PIPE_BUF - 1
    assert json.loads(line)["truncated"] is True


def test_each_write_is_whole_lines_of_at_most_pipe_buf() -> None:
    """A datagram socket keeps each write apart, so the test sees the writes themselves."""
    receiver, sender = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    writes: list[bytes] = []

    def receive() -> None:
        while (write := receiver.recv(65536)) != b"end":
            writes.append(write)

    reader = threading.Thread(target=receive, daemon=True)
    reader.start()
    with receiver, sender, open(sender.fileno(), "w", closefd=False) as stream:
        handler = BufferedLineHandler(stream, interval_s=3600)
        handler.setFormatter(JSONFormatter())
        logger = logging.getLogger("tinyserve.test-logs-writes")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            for i in range(200):
                logger.info("request", extra={"fields": {"n": i, "padding": "p" * (i * 7)}})
            handler.flush()
        finally:
            logger.removeHandler(handler)
            handler.close()
        sender.send(b"end")
        reader.join(10)
    assert len(writes) > 1
    assert all(len(write) <= PIPE_BUF and write.endswith(b"\n") for write in writes)
    numbers = [json.loads(line)["n"] for write in writes for line in write.splitlines()]
    assert numbers == list(range(200))


def dropped_total() -> float:
    return REGISTRY.get_sample_value("tinyserve_log_lines_dropped_total") or 0.0


def test_a_full_buffer_drops_and_counts_new_lines_then_says_so() -> None:
    stream = io.StringIO()
    logger, handler = quiet_handler(stream, max_pending=5)  # nothing leaves the buffer until close
    before = dropped_total()
    for i in range(8):
        logger.info("request", extra={"fields": {"n": i}})
    assert handler.dropped == 3
    assert dropped_total() - before == 3
    handler.close()
    logger.removeHandler(handler)
    written = lines(stream)
    assert [line.get("n") for line in written[:5]] == [0, 1, 2, 3, 4]
    assert written[5]["message"] == "3 log lines dropped: the log reader fell behind" and written[5]["dropped"] == 3


def test_a_stalled_reader_never_blocks_the_caller() -> None:
    """Nothing reads the pipe: it fills, the writer thread waits, and logging goes on (dropping)."""
    read_end, write_end = os.pipe()
    stream = open(write_end, "w", closefd=False)  # noqa: SIM115  # closed below, after the handler
    handler = BufferedLineHandler(stream, interval_s=0.01, max_pending=1000)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("tinyserve.test-logs-stalled")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    done = threading.Event()

    def log_a_lot() -> None:
        for i in range(50_000):  # megabytes: far more than a pipe holds
            logger.warning("request", extra={"fields": {"n": i, "padding": "p" * 100}})
        done.set()

    caller = threading.Thread(target=log_a_lot, daemon=True)
    try:
        caller.start()
        assert done.wait(60), "logging blocked on the stalled reader"
        assert handler.dropped > 0
    finally:
        logger.removeHandler(handler)
        drain = threading.Thread(target=read_to_the_end, args=(read_end,), daemon=True)
        drain.start()  # the writer thread's blocked write and close()'s flush can finish
        handler.close()
        stream.close()
        os.close(write_end)
        drain.join(10)
        os.close(read_end)


def read_to_the_end(fd: int) -> None:
    while os.read(fd, 1 << 16):
        pass
