"""Structured logging: one JSON object per line, ready for any log pipeline.

Several workers share one stderr pipe, and its reader can fall behind or stop. So lines are
written whole: each write holds whole lines and at most ``PIPE_BUF`` bytes, which the kernel
never interleaves with another process's writes, and no line is longer than that. And a
request never waits for the reader: lines wait in a bounded buffer that a writer thread
empties, and past its size new lines are dropped and counted (``tinyserve_log_lines_dropped_total``).
"""

import io
import logging
import os
import select
import sys
import threading
from datetime import UTC, datetime
from typing import TextIO

import orjson

from service import metrics

FLUSH_INTERVAL_S = 0.1
# Lines held while the reader is slow; past this, new lines are dropped.
MAX_PENDING_LINES = 10_000
# The largest write a pipe takes in one piece (POSIX guarantees at least 512; Linux's is 4096).
PIPE_BUF: int = getattr(select, "PIPE_BUF", 512)
# Fields cut to make a line fit, in this order, each keeping at least so many characters while
# the next can give way: a long message leaves room for the traceback's end, which names the exception.
_SHORTENED = (("message", 512), ("traceback", 0), ("message", 0))


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return fit_line(entry, PIPE_BUF - 1).decode()  # the newline makes PIPE_BUF


def fit_line(entry: dict[str, object], limit: int) -> bytes:
    """``entry`` as JSON of at most ``limit`` bytes. A long message keeps its start, a long traceback
    its end (the exception), and ``"truncated": true`` says so; if other fields are still too long,
    only the line's time, level, logger and message stay."""
    line = _dumps(entry)
    if len(line) <= limit:
        return line
    entry = {**entry, "truncated": True}
    for key, floor in _SHORTENED:
        entry = _shorten(entry, key, limit, floor)
    line = _dumps(entry)
    if len(line) > limit:
        core: dict[str, object] = {k: entry[k] for k in ("ts", "level", "logger", "message", "truncated") if k in entry}
        line = _dumps(_shorten(core, "message", limit))
    return line


def _shorten(entry: dict[str, object], key: str, limit: int, floor: int = 0) -> dict[str, object]:
    value = entry.get(key)
    excess = len(_dumps(entry)) - limit
    if excess <= 0 or not isinstance(value, str) or len(value) <= floor:
        return entry
    keep = max(floor, len(value) - excess - 3)  # each character is at least one byte; "..." adds three
    cut = "..." + value[len(value) - keep :] if key == "traceback" else value[:keep] + "..."
    return {**entry, key: cut}


def _dumps(entry: dict[str, object]) -> bytes:
    return orjson.dumps(entry, default=str)


class BufferedLineHandler(logging.StreamHandler[TextIO]):
    """Hands lines to a writer thread of its own: at most ``interval_s`` late, warnings at once.

    One write per request on the event loop cost far more than formatting the line: every write
    releases the GIL, and the batch worker thread then holds the event loop up until it lets go.
    ``emit`` only appends to a list under a short lock, so a stalled reader never blocks the
    caller. Pending lines are written when the handler is closed, which logging does at
    interpreter exit.
    """

    def __init__(
        self, stream: TextIO, interval_s: float = FLUSH_INTERVAL_S, max_pending: int = MAX_PENDING_LINES
    ) -> None:
        super().__init__(stream)
        self.max_pending = max_pending
        self.dropped = 0
        self._reported = 0  # drops already announced in the log
        self._pending: list[bytes] = []
        self._pending_lock = threading.Lock()  # never held during a write
        self._write_lock = threading.Lock()  # one writer at a time: the thread, or close()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._fd = _file_descriptor(stream)
        threading.Thread(target=self._write_every, args=(interval_s,), name="log-writer", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record).encode() + b"\n"
        except Exception:
            self.handleError(record)
            return
        with self._pending_lock:
            if len(self._pending) >= self.max_pending:
                self.dropped += 1
                metrics.LOG_LINES_DROPPED.inc()
                return
            self._pending.append(line)
        if record.levelno >= logging.WARNING:
            self._wake.set()

    def flush(self) -> None:
        """Write what is pending now, from the caller's thread (blocks while the reader is stalled)."""
        self._write_pending()

    def close(self) -> None:
        self._stopped.set()
        self._wake.set()
        self.flush()
        super().close()

    def _write_every(self, interval_s: float) -> None:
        while True:
            self._wake.wait(interval_s)
            self._wake.clear()
            if self._stopped.is_set():
                return
            self._write_pending()

    def _write_pending(self) -> None:
        with self._write_lock:
            with self._pending_lock:
                lines, self._pending = self._pending, []
                dropped, self._reported = self.dropped - self._reported, self.dropped
            if dropped:  # after what was kept, so that the reader sees where the gap is
                lines.append(_dropped_line(dropped))
            if lines:
                self._write(lines)

    def _write(self, lines: list[bytes]) -> None:
        if self._fd is None:  # an in-memory stream: no other process writes to it
            self.stream.write(b"".join(lines).decode())
            self.stream.flush()
            return
        self.stream.flush()  # anything written through the stream object goes first
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            if size + len(line) > PIPE_BUF and chunk:
                _write_all(self._fd, b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            _write_all(self._fd, b"".join(chunk))


def _dropped_line(count: int) -> bytes:
    entry: dict[str, object] = {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": "warning",
        "logger": "tinyserve.logs",
        "message": f"{count} log lines dropped: the log reader fell behind",
        "dropped": count,
    }
    return _dumps(entry) + b"\n"


def _file_descriptor(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


def _write_all(fd: int, data: bytes) -> None:
    """One write of at most PIPE_BUF bytes, which a pipe takes whole; a file may take it in parts."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except OSError:
            return  # the reader is gone: nothing more can be logged
        view = view[written:]


def configure_logging(level: str) -> None:
    root = logging.getLogger("tinyserve")
    for old in root.handlers:
        old.close()
    handler = BufferedLineHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
