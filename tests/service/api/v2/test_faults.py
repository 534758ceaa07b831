"""V2 inference under faults: a full queue is 503 with Retry-After, a passed deadline 504, a failing
forward 500, each in V2's ``{"error": "message"}`` envelope (SECURITY.md cites these). The model's
forward is held, not slowed, so every step waits for an event instead of a clock."""

import asyncio

import httpx
import pytest

from tests.service.api.v2.wire import json_body
from tests.service.conftest import make_settings, running_app, wait_until
from tests.service.faults import faulty_model

pytestmark = pytest.mark.asyncio

DIGITS = "digits-cnn"
INFER = f"/v2/models/{DIGITS}/infer"
BODY = json_body([("images", "UINT8", [1, 28, 28], [0] * 784)])


async def infer(client: httpx.AsyncClient, request_id: str = "r") -> httpx.Response:
    return await client.post(INFER, json=BODY, headers={"X-Request-ID": request_id})


async def test_a_full_queue_is_503_with_retry_after() -> None:
    settings = make_settings(models=[DIGITS], max_queue_size=2, max_batch_size=1)
    async with running_app(settings) as (app, client):
        with faulty_model(app, DIGITS, hold=True) as forward:
            batcher = app.state.registry.get(DIGITS).batcher
            held = asyncio.ensure_future(infer(client))
            await wait_until(lambda: forward.entered.is_set() and batcher.queued_items == 0)
            queued = asyncio.gather(infer(client), infer(client))
            await wait_until(lambda: batcher.queued_items == 2)
            refused = await infer(client)
            forward.release.set()
            answered = [await held, *await queued]
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "1"
    assert refused.json() == {"error": f"model '{DIGITS}' has 2 items queued (limit 2); retry shortly"}
    assert [r.status_code for r in answered] == [200, 200, 200]
    assert all(r.json()["model_name"] == DIGITS for r in answered)


async def test_a_passed_deadline_is_504() -> None:
    settings = make_settings(models=[DIGITS], request_timeout_s=0.2, max_batch_size=1)
    async with running_app(settings) as (app, client):
        with faulty_model(app, DIGITS, hold=True) as forward:
            first, second = await asyncio.gather(infer(client), infer(client))  # answered while still held
            forward.release.set()
        after = await infer(client)
    for response in (first, second):
        assert response.status_code == 504, response.text
        assert set(response.json()) == {"error"} and "deadline" in response.json()["error"]
    assert after.status_code == 200 and after.json()["model_name"] == DIGITS


async def test_a_failing_forward_is_500_for_its_batch_only() -> None:
    async with running_app(make_settings(models=[DIGITS])) as (app, client):
        with faulty_model(app, DIGITS, fail_calls=frozenset({1})):
            failed = await infer(client, "v2-fault-1")
            after = await infer(client)
    assert failed.status_code == 500, failed.text
    # the exception's class and the request id, never its message (no internals to clients)
    expected = f"model '{DIGITS}' failed on this batch (RuntimeError); quote request id v2-fault-1 when reporting it"
    assert failed.json() == {"error": expected}
    assert after.status_code == 200 and after.json()["outputs"][0]["name"]
