"""Fault injection through public seams: a served model's batcher rebuilt around a forward that is
held, slowed or failing, with ``DynamicBatcher``'s public constructor and the registry's public fields.

Nothing here touches a private attribute: the routes look the batcher up on every request
(``ServedModel.batcher``), so swapping it is what a reload would do.
"""

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI

from service.runtime.batcher import DynamicBatcher, ForwardFn


@dataclass
class FaultyForward:
    """Wraps a model's forward: waits on ``release`` when ``hold`` is set, sleeps ``delay_s``,
    raises on the calls numbered in ``fail_calls`` (1-based), and counts and sizes the batches."""

    forward: ForwardFn
    delay_s: float = 0.0
    fail_calls: frozenset[int] = frozenset()
    hold: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    entered: threading.Event = field(default_factory=threading.Event)  # a batch reached the forward
    batch_sizes: list[int] = field(default_factory=list)

    def __call__(self, payloads: Sequence[Any]) -> np.ndarray:
        self.batch_sizes.append(len(payloads))
        self.entered.set()
        if self.hold and not self.release.wait(30):
            raise AssertionError("the test never released the held forward")
        if self.delay_s:
            time.sleep(self.delay_s)
        if len(self.batch_sizes) in self.fail_calls:
            raise RuntimeError("simulated CUDA error: device-side assert triggered")
        return self.forward(payloads)


@contextmanager
def faulty_model(app: FastAPI, name: str, **faults: Any) -> Iterator[FaultyForward]:
    """Serve ``name`` through a fresh batcher (same limits as the configured one) whose forward is a
    ``FaultyForward(**faults)`` around the model's own; the configured batcher comes back afterwards."""
    served = app.state.registry.get(name)
    original: DynamicBatcher = served.batcher
    wrapped = FaultyForward(served.runner.forward, **faults)
    replacement = rebuilt(original, wrapped)
    replacement.start()
    served.batcher = replacement
    try:
        yield wrapped
    finally:
        wrapped.release.set()
        served.batcher = original
        replacement.stop()


def rebuilt(batcher: DynamicBatcher, forward: Callable[[Sequence[Any]], np.ndarray]) -> DynamicBatcher:
    """A batcher with ``batcher``'s limits and another forward (never inline: a fault must reach the worker)."""
    return DynamicBatcher(
        batcher.model_name,
        forward,
        max_batch_size=batcher.max_batch_size,
        max_batch_delay_s=batcher.max_batch_delay_s,
        max_queue_size=batcher.max_queue_size,
        timeout_s=batcher.timeout_s,
    )
