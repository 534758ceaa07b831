"""Serving on a GPU: runs where torch sees CUDA (scripts/gpu_checks.sh), skipped elsewhere."""

import asyncio

import httpx
import numpy as np
import pytest
import torch

from tests.service.conftest import make_settings, running_app

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
]


async def test_cuda_serves_the_same_answers_as_cpu(golden_digits: list[tuple[np.ndarray, int]]) -> None:
    images = [{"pixels": pixels.tolist()} for pixels, _ in golden_digits]
    answers = {}
    for device in ("cpu", "cuda"):
        async with running_app(make_settings(device=device)) as (app, client):
            ready = await client.get("/health/ready")
            assert ready.status_code == 200, ready.text  # golden checks passed on this device
            info = (await client.get("/v1/models/digits-resnet")).json()
            assert info["device"] == device
            digits = await client.post("/v1/digits/predict", json={"images": images, "model": "digits-resnet"})
            names = await client.post("/v1/names/predict", json={"names": ["Nakamura", "Dvořák", "Иванов"]})
            answers[device] = (digits.json(), names.json())
    for index, key in ((0, "digit"), (1, "country")):
        on_cpu, on_cuda = answers["cpu"][index]["predictions"], answers["cuda"][index]["predictions"]
        assert [p[key] for p in on_cpu] == [p[key] for p in on_cuda]
        for a, b in zip(on_cpu, on_cuda, strict=True):
            assert abs(a["probability"] - b["probability"]) < 2e-3


async def test_concurrent_requests_batch_on_cuda(golden_digits: list[tuple[np.ndarray, int]]) -> None:
    async with running_app(make_settings(device="cuda", models=["digits-resnet"])) as (_, client):
        body = {"images": [{"pixels": golden_digits[0][0].tolist()}], "model": "digits-resnet"}
        responses: list[httpx.Response] = await asyncio.gather(
            *(client.post("/v1/digits/predict", json=body) for _ in range(64))
        )
        assert {r.json()["predictions"][0]["digit"] for r in responses} == {golden_digits[0][1]}
