"""The upload route's hot path takes plain uploads and declines the rest to FastAPI's documented route."""

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image
from starlette.requests import Request
from starlette.types import Message

from service.api.digits import predict_digit_uploads_hot
from service.api.hot_routes import _replaying
from tests.service.conftest import png_bytes


def _one() -> bytes:
    """A dark vertical stroke on white: a "1" as a person would draw it."""
    pixels = np.full((28, 28), 255, dtype=np.uint8)
    pixels[4:24, 12:16] = 0
    return png_bytes(Image.fromarray(pixels))


ONE = _one()


def upload_request(app: FastAPI, query: str, files: list[tuple[str, tuple[str, bytes, str]]] | None) -> Request:
    built = httpx.Request("POST", f"http://test/v1/digits/predict/upload?{query}", files=files or None)
    body = built.read() if files else b""
    headers = [(k.lower().encode(), v.encode()) for k, v in built.headers.items()]

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/digits/predict/upload",
        "query_string": query.encode(),
        "headers": headers,
        "app": app,
        "state": {},
    }
    return Request(scope, receive)


FILES = [("files", ("one.png", ONE, "image/png"))]


@pytest.mark.parametrize(
    ("query", "files", "taken"),
    [
        ("", FILES, True),
        ("top_k=10&model=digits-cnn", FILES * 2, True),
        ("top_k=0", FILES, False),  # FastAPI's 422 for the query
        ("top_k=03", FILES, False),  # valid, but not the plain spelling
        ("top_k=1&top_k=2", FILES, False),
        ("", [("file", ("one.png", ONE, "image/png"))], False),  # no "files" field: FastAPI's 422
        ("", None, False),  # no form at all
    ],
)
async def test_plain_uploads_are_taken_and_the_rest_declined(
    app: FastAPI, query: str, files: list[tuple[str, tuple[str, bytes, str]]] | None, taken: bool
) -> None:
    response = await predict_digit_uploads_hot(upload_request(app, query, files))
    assert (response is not None) == taken
    if response is not None:
        assert response.status_code == 200


async def test_a_declined_request_is_answered_by_fastapi_with_its_message(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/digits/predict/upload?top_k=0", files=FILES)
    assert response.status_code == 422
    assert "top_k" in response.json()["error"]["message"]


async def test_replaying_gives_the_body_once_then_the_connection() -> None:
    async def connection() -> Message:
        return {"type": "http.disconnect"}

    receive = _replaying(b"body", connection)
    assert await receive() == {"type": "http.request", "body": b"body", "more_body": False}
    assert await receive() == {"type": "http.disconnect"}
