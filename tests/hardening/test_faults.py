"""A forward pass that raises: its batch gets a 500 with the request id, the log gets the traceback."""

import io
import json
import logging

from service.logs import JSONFormatter
from tests.hardening import tally
from tests.hardening.conftest import Reference
from tests.service.conftest import make_settings, running_app
from tests.service.faults import faulty_model


async def test_a_failing_forward_is_logged_with_its_traceback(reference: Reference) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("tinyserve.batcher")
    logger.addHandler(handler)
    try:
        async with running_app(make_settings(models=["digits-cnn"])) as (app, client):
            pixels, label = reference.digits[0]
            body = {"images": [{"pixels": pixels.tolist()}]}
            with faulty_model(app, "digits-cnn", fail_calls=frozenset({1})):
                failed = await client.post("/v1/digits/predict", json=body, headers={"X-Request-ID": "trace-me-7"})
                after = await client.post("/v1/digits/predict", json=body)
    finally:
        logger.removeHandler(handler)

    tally.record("faults: a forward pass that raises", failed.status_code)
    tally.record("faults: a forward pass that raises", after.status_code)
    assert failed.status_code == 500
    error = failed.json()["error"]
    assert error["type"] == "inference_error" and error["request_id"] == "trace-me-7"
    assert "RuntimeError" in error["message"] and "device-side" not in error["message"]  # no internals to clients
    assert after.status_code == 200 and after.json()["predictions"][0]["digit"] == label

    (line,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert line["level"] == "error" and line["logger"] == "tinyserve.batcher"
    assert "forward failed for a batch of 1 requests on digits-cnn" in line["message"]
    assert line["traceback"].startswith("Traceback (most recent call last)")
    assert "RuntimeError: simulated CUDA error: device-side assert triggered" in line["traceback"]
