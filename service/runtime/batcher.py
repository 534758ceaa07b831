"""Dynamic batching: requests for one model that arrive together run as one forward pass.

One long-lived worker thread per model takes whatever is waiting, up to
``max_batch_size`` items: under load, the next batch is what queued while the last
one ran. A lone request runs at once, so an idle server adds no latency; when several
are waiting, a ``max_batch_delay`` above 0 makes the worker wait until that long after
the oldest arrived for the batch to fill (worth it only where a batch's cost hardly
grows with its size). The forward runs off the event loop; results go back through
each caller's loop.

When the caller can prove that no other request can arrive meanwhile (``run_inline_when``,
e.g. the server has one open connection) and the worker is idle, the forward runs on the
caller's thread instead: the hand-off to the worker and back costs more than a small model.
"""

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service import metrics, tracing
from service.runtime.errors import DeadlineExceededError, InferenceError, OverloadedError

logger = logging.getLogger("tinyserve.batcher")

ForwardFn = Callable[[Sequence[Any]], np.ndarray]


@dataclass(frozen=True)
class BatchTiming:
    """Where one request's time went inside the runtime (seconds)."""

    queued: float
    inference: float
    batch_size: int


@dataclass
class _WorkItem:
    payload: Any
    size: int
    future: "asyncio.Future[tuple[np.ndarray, BatchTiming]]"
    loop: asyncio.AbstractEventLoop
    enqueued: float = field(default_factory=time.perf_counter)
    ticket: tracing.QueueTicket | None = None  # the request's trace, handed to the batch's forward span


_STOP = object()


class DynamicBatcher:
    def __init__(
        self,
        model_name: str,
        forward: ForwardFn,
        *,
        max_batch_size: int,
        max_batch_delay_s: float,
        max_queue_size: int,
        timeout_s: float,
        run_inline_when: Callable[[], bool] | None = None,
        version: int | None = None,
        device: str = "cpu",
        graph: Callable[[], str] = lambda: "eager",
    ) -> None:
        self.model_name = model_name
        self.version, self.device, self.graph = version, device, graph  # what forward spans say
        self._forward = forward
        self.max_batch_size = max_batch_size
        self.max_batch_delay_s = max_batch_delay_s
        self.max_queue_size = max_queue_size
        self.timeout_s = timeout_s
        self._run_inline_when = run_inline_when
        self._busy = False  # the worker holds a batch
        self._queue: queue.SimpleQueue[_WorkItem | object] = queue.SimpleQueue()
        self._queued_items = 0  # += on the event loop, -= on the worker: under _lock
        self._lock = threading.Lock()
        self._carry: _WorkItem | None = None
        self._thread = threading.Thread(target=self._run, name=f"batcher-{model_name}", daemon=True)
        self._queue_gauge = metrics.QUEUE_DEPTH.labels(model=model_name)
        self._batch_hist = metrics.BATCH_SIZE.labels(model=model_name)
        self._infer_hist = metrics.INFERENCE_SECONDS.labels(model=model_name)
        self._items_counter = metrics.ITEMS_PREDICTED.labels(model=model_name)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then end the worker thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    @property
    def queued_items(self) -> int:
        return self._queued_items

    async def submit(self, payload: Any, size: int) -> tuple[np.ndarray, BatchTiming]:
        """Queue ``size`` items; return their probabilities once their batch has run."""
        if self._run_inline_when is not None and self.idle and self._run_inline_when():
            return self._forward_inline(payload, size)
        with self._lock:
            if self._queued_items + size > self.max_queue_size:
                raise OverloadedError(
                    f"model {self.model_name!r} has {self._queued_items} items queued "
                    f"(limit {self.max_queue_size}); retry shortly"
                )
            self._queued_items += size
        loop = asyncio.get_running_loop()
        ticket = self._ticket()
        item = _WorkItem(payload, size, loop.create_future(), loop, ticket=ticket)
        self._queue_gauge.inc(size)
        self._queue.put(item)
        expiry = loop.call_later(self.timeout_s, _expire, item.future, self.timeout_s)
        try:
            return await item.future
        except BaseException as exc:
            if ticket is not None:  # left the queue without a forward, or its forward failed
                ticket.end(exc)
            raise
        finally:
            expiry.cancel()

    @property
    def idle(self) -> bool:
        return self._queued_items == 0 and not self._busy

    def _forward_inline(self, payload: Any, size: int) -> tuple[np.ndarray, BatchTiming]:
        started = time.perf_counter()
        try:
            with self._forward_span(None, size):
                probabilities = self._forward([payload])
        except Exception as exc:
            raise self._failure(exc, 1) from exc
        elapsed = time.perf_counter() - started
        self._record(size, elapsed)
        return probabilities, BatchTiming(queued=0.0, inference=elapsed, batch_size=size)

    def _failure(self, exc: Exception, requests: int) -> InferenceError:
        logger.exception("forward failed for a batch of %d requests on %s", requests, self.model_name)
        return InferenceError(f"model {self.model_name!r} failed on this batch ({type(exc).__name__})")

    def _forward_span(self, items: list[_WorkItem] | None, rows: int) -> AbstractContextManager[object]:
        """The batch's span; ``items`` None: a lone request run inline, whose queue span opens here."""
        if not tracing.is_enabled():
            return nullcontext()
        tickets = [item.ticket for item in items] if items is not None else [self._ticket()]
        return tracing.forward(
            tickets,
            model=self.model_name,
            version=self.version,
            batch_size=rows,
            device=self.device,
            graph=self.graph(),
        )

    def _ticket(self) -> tracing.QueueTicket | None:
        return tracing.enqueued(model=self.model_name, version=self.version)

    def _record(self, rows: int, elapsed: float) -> None:
        self._batch_hist.observe(rows)
        self._infer_hist.observe(elapsed)
        self._items_counter.inc(rows)

    # ---- worker thread ----

    def _run(self) -> None:
        while True:
            batch = self._collect()
            if batch is None:
                return
            self._busy = True  # before the batch leaves the queue count, so `idle` never sees a gap
            try:
                self._execute(batch)
            finally:
                self._busy = False

    def _collect(self) -> list[_WorkItem] | None:
        first = self._carry or self._queue.get()
        self._carry = None
        if first is _STOP:
            return None
        assert isinstance(first, _WorkItem)
        batch, rows = [first], first.size
        deadline = first.enqueued + self.max_batch_delay_s
        while rows < self.max_batch_size:
            try:
                if len(batch) == 1:  # a lone request never waits
                    nxt = self._queue.get_nowait()
                else:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.perf_counter()))
            except queue.Empty:
                break
            if nxt is _STOP:
                self._queue.put(_STOP)
                break
            assert isinstance(nxt, _WorkItem)
            if rows + nxt.size > self.max_batch_size:
                self._carry = nxt
                break
            batch.append(nxt)
            rows += nxt.size
        return batch

    def _execute(self, batch: list[_WorkItem]) -> None:
        rows = sum(item.size for item in batch)
        with self._lock:
            self._queued_items -= rows
        self._queue_gauge.dec(rows)
        live = [item for item in batch if not item.future.done()]  # skip expired or cancelled
        if not live:
            return
        started = time.perf_counter()
        try:
            with self._forward_span(live, sum(item.size for item in live)):
                probabilities = self._forward([item.payload for item in live])
        except Exception as exc:
            _deliver(live, [self._failure(exc, len(live))] * len(live))
            return
        elapsed = time.perf_counter() - started
        live_rows = sum(item.size for item in live)
        self._record(live_rows, elapsed)
        results: list[tuple[np.ndarray, BatchTiming] | BaseException] = []
        offset = 0
        for item in live:
            timing = BatchTiming(queued=started - item.enqueued, inference=elapsed, batch_size=live_rows)
            results.append((probabilities[offset : offset + item.size], timing))
            offset += item.size
        _deliver(live, results)


def _deliver(items: list[_WorkItem], results: "list[Any]") -> None:
    """Hand results to their callers: one wake-up of each event loop per batch, not one per request."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
    for item, result in zip(items, results, strict=True):
        by_loop.setdefault(item.loop, []).append((item.future, result))
    for loop, pairs in by_loop.items():
        loop.call_soon_threadsafe(_resolve, pairs)


def _resolve(pairs: "list[tuple[asyncio.Future[Any], Any]]") -> None:
    for future, result in pairs:
        if future.done():  # expired or cancelled meanwhile
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def _set_exception(future: "asyncio.Future[Any]", error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _expire(future: "asyncio.Future[Any]", timeout_s: float) -> None:
    _set_exception(future, DeadlineExceededError(f"no answer within the {timeout_s:g} s deadline"))
