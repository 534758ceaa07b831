"""DynamicBatcher on its own, with a forward function we control."""

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pytest

from service.runtime.batcher import DynamicBatcher
from service.runtime.errors import DeadlineExceededError, InferenceError, OverloadedError
from tests.service.conftest import wait_until

pytestmark = pytest.mark.asyncio


class SlowIdentity:
    """Returns each payload's rows as probabilities; can be held back at ``gate`` or made to fail.
    ``batches`` records each batch's rows as it reaches the forward (before the gate)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.batches: list[int] = []
        self.fail_next = False

    def __call__(self, payloads: Sequence[np.ndarray]) -> np.ndarray:
        self.batches.append(sum(len(p) for p in payloads))
        if not self.gate.wait(30):
            raise AssertionError("the test never opened the gate")
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("boom")
        return np.concatenate(payloads).astype(np.float32)


@pytest.fixture
def forward() -> SlowIdentity:
    return SlowIdentity()


@pytest.fixture(params=[0.0, 0.002], ids=["no-delay", "2ms-delay"])
def batcher(forward: SlowIdentity, request: pytest.FixtureRequest) -> Iterator[DynamicBatcher]:
    b = DynamicBatcher(
        "test", forward, max_batch_size=8, max_batch_delay_s=request.param, max_queue_size=16, timeout_s=2
    )
    b.start()
    yield b
    forward.gate.set()
    b.stop()


def held(batcher: DynamicBatcher, forward: SlowIdentity) -> bool:
    """The worker took a batch off the queue and holds it at the gate."""
    return bool(forward.batches) and batcher.queued_items == 0 and not batcher.idle


def rows(*values: float) -> np.ndarray:
    return np.array([[v] for v in values], dtype=np.float32)


async def test_each_caller_gets_its_own_rows(batcher: DynamicBatcher, forward: SlowIdentity) -> None:
    forward.gate.clear()
    first = asyncio.ensure_future(batcher.submit(rows(0), 1))
    await wait_until(lambda: held(batcher, forward))  # the worker holds request 0 at the gate
    calls = [batcher.submit(rows(*range(i, i + 2)), 2) for i in range(1, 7, 2)]
    pending = asyncio.gather(*calls)
    await wait_until(lambda: batcher.queued_items == 6)
    forward.gate.set()
    results = [await first, *await pending]
    assert [r[0].ravel().tolist() for r in results] == [[0], [1, 2], [3, 4], [5, 6]]
    assert forward.batches == [1, 6]
    assert results[1][1].batch_size == 6


async def test_lone_request_does_not_wait_for_the_batch_delay(forward: SlowIdentity) -> None:
    """The delay is an hour: a lone request answered at all was not made to wait for it."""
    b = DynamicBatcher("lone", forward, max_batch_size=8, max_batch_delay_s=3600, max_queue_size=16, timeout_s=7200)
    b.start()
    try:
        result, timing = await asyncio.wait_for(b.submit(rows(1), 1), timeout=60)
    finally:
        b.stop()
    assert result.ravel().tolist() == [1] and timing.batch_size == 1


async def test_batches_never_exceed_the_limit(batcher: DynamicBatcher, forward: SlowIdentity) -> None:
    forward.gate.clear()
    calls = [batcher.submit(rows(*([i] * 3)), 3) for i in range(5)]
    pending = asyncio.gather(*calls)
    await wait_until(lambda: sum(forward.batches) + batcher.queued_items == 15)  # all in, one batch held
    forward.gate.set()
    await pending
    assert max(forward.batches) <= 8
    assert sum(forward.batches) == 15


async def test_full_queue_is_refused_at_once(batcher: DynamicBatcher, forward: SlowIdentity) -> None:
    forward.gate.clear()
    # One batch of 8 is held at the gate inside the forward; two more fill the queue of 16.
    accepted = [asyncio.ensure_future(batcher.submit(rows(*([0] * 8)), 8))]
    await wait_until(lambda: held(batcher, forward))
    accepted += [asyncio.ensure_future(batcher.submit(rows(*([0] * 8)), 8)) for _ in range(2)]
    await wait_until(lambda: batcher.queued_items == 16)
    with pytest.raises(OverloadedError, match="limit 16"):
        await batcher.submit(rows(1), 1)
    forward.gate.set()
    await asyncio.gather(*accepted)
    assert batcher.queued_items == 0
    await batcher.submit(rows(1), 1)  # recovered


async def test_deadline_gives_up_and_frees_the_slot(forward: SlowIdentity) -> None:
    b = DynamicBatcher("slow", forward, max_batch_size=8, max_batch_delay_s=0, max_queue_size=4, timeout_s=0.1)
    b.start()
    try:
        forward.gate.clear()
        blocker = asyncio.ensure_future(b.submit(rows(0), 1))
        await wait_until(lambda: held(b, forward))
        with pytest.raises(DeadlineExceededError):
            await b.submit(rows(1, 2, 3), 3)
        with pytest.raises(DeadlineExceededError):
            await blocker
        forward.gate.set()
        await wait_until(lambda: b.idle)  # the expired request left the queue without running
        assert b.queued_items == 0
        result, _ = await b.submit(rows(7), 1)
        assert result.ravel().tolist() == [7]
        assert 3 not in forward.batches, "the expired request must not have run"
    finally:
        b.stop()


async def test_a_failing_batch_fails_only_its_requests(batcher: DynamicBatcher, forward: SlowIdentity) -> None:
    forward.fail_next = True
    with pytest.raises(InferenceError, match="failed on this batch"):
        await batcher.submit(rows(1), 1)
    result, _ = await batcher.submit(rows(2), 1)
    assert result.ravel().tolist() == [2]


class ThreadRecorder(SlowIdentity):
    """Also records which thread ran each forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def __call__(self, payloads: Sequence[np.ndarray]) -> np.ndarray:
        self.threads.append(threading.current_thread().name)
        return super().__call__(payloads)


def inline_batcher(forward: SlowIdentity, run_inline_when: Callable[[], bool]) -> DynamicBatcher:
    return DynamicBatcher(
        "test",
        forward,
        max_batch_size=8,
        max_batch_delay_s=0.002,
        max_queue_size=16,
        timeout_s=2,
        run_inline_when=run_inline_when,
    )


@pytest.mark.parametrize(("sole_request", "expected_thread"), [(True, "MainThread"), (False, "batcher-test")])
async def test_inline_only_when_the_caller_says_no_other_request_can_come(
    sole_request: bool, expected_thread: str
) -> None:
    recorder = ThreadRecorder()
    b = inline_batcher(recorder, lambda: sole_request)
    b.start()
    try:
        result, timing = await b.submit(rows(3, 4), 2)
    finally:
        b.stop()
    assert recorder.threads == [expected_thread]
    np.testing.assert_array_equal(result, rows(3, 4))
    assert timing.batch_size == 2
    assert (timing.queued == 0.0) is sole_request


async def test_a_busy_worker_keeps_requests_in_the_queue() -> None:
    recorder = ThreadRecorder()
    sole_request = False
    b = inline_batcher(recorder, lambda: sole_request)
    b.start()
    try:
        recorder.gate.clear()
        held = asyncio.ensure_future(b.submit(rows(0), 1))
        await wait_until(lambda: b.queued_items == 0 and not b.idle)  # the worker holds request 0 at the gate
        sole_request = True
        second = asyncio.ensure_future(b.submit(rows(1), 1))
        await wait_until(lambda: b.queued_items == 1)  # queued behind the held one, not run inline
        recorder.gate.set()
        await asyncio.gather(held, second)
    finally:
        recorder.gate.set()
        b.stop()
    assert recorder.threads == ["batcher-test", "batcher-test"]
    assert b.idle


async def test_an_inline_failure_is_an_inference_error() -> None:
    recorder = ThreadRecorder()
    recorder.fail_next = True
    b = inline_batcher(recorder, lambda: True)
    with pytest.raises(InferenceError):
        await b.submit(rows(1), 1)
    np.testing.assert_array_equal((await b.submit(rows(2), 1))[0], rows(2))
