"""Overload, deadlines and a failing forward pass, through HTTP, with the model's forward held
(``tests/service/faults.py``): each step waits for an event or a count, never for a clock."""

import asyncio

import pytest

from tests.service.conftest import make_settings, running_app, wait_until
from tests.service.faults import faulty_model

pytestmark = pytest.mark.asyncio

BODY = {"images": [{"pixels": [[0] * 28 for _ in range(28)]}], "model": "digits-cnn"}


async def test_burst_gets_fast_503s_then_recovers() -> None:
    settings = make_settings(models=["digits-cnn"], max_queue_size=4, max_batch_size=2)
    async with running_app(settings) as (app, client):
        with faulty_model(app, "digits-cnn", hold=True) as forward:
            batcher = app.state.registry.get("digits-cnn").batcher
            holder = asyncio.ensure_future(client.post("/v1/digits/predict", json=BODY))
            await wait_until(lambda: forward.entered.is_set() and batcher.queued_items == 0)
            burst = [asyncio.ensure_future(client.post("/v1/digits/predict", json=BODY)) for _ in range(20)]
            await wait_until(lambda: sum(task.done() for task in burst) == 16)  # refused without waiting
            assert batcher.queued_items == 4
            forward.release.set()
            responses = [await holder, *await asyncio.gather(*burst)]
            ok = await client.post("/v1/digits/predict", json=BODY)
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 5 and statuses.count(503) == 16
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["type"] == "overloaded"
    assert refused.json()["error"]["message"] == "model 'digits-cnn' has 4 items queued (limit 4); retry shortly"
    assert ok.status_code == 200 and ok.json()["model"] == "digits-cnn"


async def test_deadline_passed_in_the_queue_is_504() -> None:
    settings = make_settings(models=["digits-cnn"], request_timeout_s=0.15, max_batch_size=1)
    async with running_app(settings) as (app, client):
        with faulty_model(app, "digits-cnn", hold=True) as forward:
            batcher = app.state.registry.get("digits-cnn").batcher
            first, second = await asyncio.gather(*(client.post("/v1/digits/predict", json=BODY) for _ in range(2)))
            forward.release.set()
            # the expired requests leave the queue count once their batches have run
            await wait_until(lambda: batcher.queued_items == 0 and batcher.idle)
    assert {first.status_code, second.status_code} == {504}
    assert first.json()["error"]["type"] == "deadline_exceeded"
    assert "deadline" in first.json()["error"]["message"]


async def test_a_failing_forward_fails_only_its_batch() -> None:
    async with running_app(make_settings(models=["digits-cnn"])) as (app, client):
        with faulty_model(app, "digits-cnn", fail_calls=frozenset({1})):
            failed = await client.post("/v1/digits/predict", json=BODY, headers={"X-Request-ID": "trace-me"})
            after = await client.post("/v1/digits/predict", json=BODY)
    assert failed.status_code == 500
    error = failed.json()["error"]
    assert error["type"] == "inference_error" and error["request_id"] == "trace-me"
    assert "trace-me" in error["message"] and "CUDA" not in error["message"]
    assert after.status_code == 200 and after.json()["model"] == "digits-cnn"
