"""Overload, deadlines and a failing forward pass, through HTTP, with a slowed model."""

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI

from tests.service.conftest import make_settings, running_app

pytestmark = pytest.mark.asyncio

BODY = {"images": [{"pixels": [[0] * 28 for _ in range(28)]}], "model": "digits-cnn"}


def slowed(app: FastAPI, seconds: float, fail_first: bool = False) -> None:
    """Make digits-cnn's forward take ``seconds``; optionally raise on the first batch."""
    batcher = app.state.registry.get("digits-cnn").batcher
    original: Callable[[Sequence[Any]], np.ndarray] = batcher._forward
    calls = {"n": 0}

    def forward(payloads: Sequence[Any]) -> np.ndarray:
        calls["n"] += 1
        time.sleep(seconds)
        if fail_first and calls["n"] == 1:
            raise RuntimeError("simulated CUDA error")
        return original(payloads)

    batcher._forward = forward


async def test_burst_gets_fast_503s_then_recovers() -> None:
    settings = make_settings(models=["digits-cnn"], max_queue_size=4, max_batch_size=2)
    async with running_app(settings) as (app, client):
        slowed(app, 0.2)
        responses = await asyncio.gather(*(client.post("/v1/digits/predict", json=BODY) for _ in range(20)))
        statuses = [r.status_code for r in responses]
        assert statuses.count(200) >= 4
        assert statuses.count(503) >= 10
        assert set(statuses) == {200, 503}
        refused = next(r for r in responses if r.status_code == 503)
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["type"] == "overloaded"
        ok = await client.post("/v1/digits/predict", json=BODY)
        assert ok.status_code == 200


async def test_deadline_passed_in_the_queue_is_504() -> None:
    settings = make_settings(models=["digits-cnn"], request_timeout_s=0.15, max_batch_size=1)
    async with running_app(settings) as (app, client):
        slowed(app, 0.3)
        first, second = await asyncio.gather(*(client.post("/v1/digits/predict", json=BODY) for _ in range(2)))
        assert {first.status_code, second.status_code} == {504}
        assert first.json()["error"]["type"] == "deadline_exceeded"
        await asyncio.sleep(0.7)
        assert app.state.registry.get("digits-cnn").batcher.queued_items == 0


async def test_a_failing_forward_fails_only_its_batch() -> None:
    async with running_app(make_settings(models=["digits-cnn"])) as (app, client):
        slowed(app, 0.0, fail_first=True)
        failed = await client.post("/v1/digits/predict", json=BODY, headers={"X-Request-ID": "trace-me"})
        assert failed.status_code == 500
        error = failed.json()["error"]
        assert error["type"] == "inference_error" and error["request_id"] == "trace-me"
        assert "trace-me" in error["message"] and "CUDA" not in error["message"]
        assert (await client.post("/v1/digits/predict", json=BODY)).status_code == 200
