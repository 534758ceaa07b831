"""Log lines are JSON, written in batches off the event loop, and none is lost."""

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from service.logs import BufferedLineHandler, JSONFormatter, configure_logging

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


def test_warnings_are_written_at_once_with_what_came_before(
    logged: tuple[logging.Logger, io.StringIO, BufferedLineHandler],
) -> None:
    logger, stream, handler = logged
    handler._stopped.set()  # stop the writer thread: only the warning itself may write
    logger.info("before")
    logger.warning("now")
    assert [line["message"] for line in lines(stream)] == ["before", "now"]


def test_close_writes_what_is_pending(logged: tuple[logging.Logger, io.StringIO, BufferedLineHandler]) -> None:
    logger, stream, handler = logged
    handler._stopped.set()
    logger.info("last words")
    assert stream.getvalue() == ""
    handler.close()
    assert [line["message"] for line in lines(stream)] == ["last words"]


async def test_configuring_again_closes_the_previous_writer() -> None:
    configure_logging("info")
    configure_logging("info")
    writers = [thread for thread in threading.enumerate() if thread.name == "log-writer"]
    await wait_until(lambda: sum(t.is_alive() for t in writers) == 1, timeout=2)
