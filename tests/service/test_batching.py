"""Concurrent requests share forward passes, and each caller still gets its own answers."""

import asyncio
import re

import httpx
import numpy as np
import pytest

from tests.service.conftest import server_timing

pytestmark = pytest.mark.asyncio


def batch_size_count(metrics_text: str, model: str) -> tuple[float, float]:
    """(number of batches, number of items) recorded for ``model``."""
    count = re.search(rf'tinyserve_batch_size_count{{model="{model}"}} (\S+)', metrics_text)
    total = re.search(rf'tinyserve_batch_size_sum{{model="{model}"}} (\S+)', metrics_text)
    assert count and total
    return float(count.group(1)), float(total.group(1))


async def test_concurrent_requests_are_batched_and_answered_correctly(
    client: httpx.AsyncClient, golden_digits: list[tuple[np.ndarray, int]]
) -> None:
    before = batch_size_count((await client.get("/metrics")).text, "digits-cnn")
    requests = [golden_digits[i % len(golden_digits)] for i in range(96)]

    async def one(pixels: np.ndarray) -> httpx.Response:
        body = {"images": [{"pixels": pixels.tolist()}], "model": "digits-cnn", "top_k": 1}
        return await client.post("/v1/digits/predict", json=body)

    responses = await asyncio.gather(*(one(pixels) for pixels, _ in requests))
    assert all(r.status_code == 200 for r in responses)
    assert [r.json()["predictions"][0]["digit"] for r in responses] == [label for _, label in requests]
    batch_sizes = [int(server_timing(r)["batch_size"]) for r in responses]
    assert max(batch_sizes) > 1

    after = batch_size_count((await client.get("/metrics")).text, "digits-cnn")
    batches, items = after[0] - before[0], after[1] - before[1]
    assert items == 96
    assert batches < 96, "some requests must have shared a forward pass"


async def test_names_and_digits_batch_independently(
    client: httpx.AsyncClient, golden_digits: list[tuple[np.ndarray, int]]
) -> None:
    names = ["Nakamura", "Иванов", "Dvořák", "Rossi"] * 8
    digit_body = {"images": [{"pixels": golden_digits[0][0].tolist()}], "model": "digits-cnn"}
    name_calls = [client.post("/v1/names/predict", json={"names": [n]}) for n in names]
    digit_calls = [client.post("/v1/digits/predict", json=digit_body) for _ in range(8)]
    responses = await asyncio.gather(*name_calls, *digit_calls)
    name_answers = [r.json()["predictions"][0]["name"] for r in responses[: len(names)]]
    assert name_answers == names
    assert {r.json()["predictions"][0]["digit"] for r in responses[len(names) :]} == {golden_digits[0][1]}
