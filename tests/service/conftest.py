"""The real app over the committed models, in-process through httpx.ASGITransport."""

import asyncio
import base64
import io
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image

from artifacts import ModelStore
from service.app import create_app
from service.settings import Settings
from tests.paths import MODELS_STORE

# The suite runs on the CPU; scripts/gpu_checks.sh runs it again with TINYSERVE_TEST_DEVICE=cuda.
TEST_DEVICE = os.environ.get("TINYSERVE_TEST_DEVICE", "cpu")


OPTIMISE_TIMEOUT_S = 120  # loading and optimising every committed model, on a busy machine


@asynccontextmanager
async def running_app(
    settings: Settings, wait_optimised: bool = True
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """Start the app's lifespan, wait until every model has loaded and optimised (failing the test if
    they never do; ``wait_optimised=False``: yield at once, while they load), yield an httpx client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        registry = app.state.registry
        if wait_optimised:
            await wait_until(registry.optimised.is_set, OPTIMISE_TIMEOUT_S, "the models never finished optimising")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tinyserve.test") as client:
            yield app, client


async def wait_until(condition: Callable[[], bool], timeout: float = 5, what: str = "condition not reached") -> None:
    """Poll ``condition`` on the event loop (other tasks and threads run meanwhile) until it holds;
    an ``AssertionError`` saying ``what`` once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        await asyncio.sleep(0.01)


def server_timing(response: httpx.Response) -> dict[str, str]:
    """The Server-Timing header as {metric: dur or desc}, e.g. {"queue": "0.000", "batch_size": "3"}."""
    parts = (part.split(";", 1) for part in response.headers["server-timing"].split(", "))
    return {name: value.split("=", 1)[1].strip('"') for name, value in parts}


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"model_store": MODELS_STORE, "device": TEST_DEVICE, "access_log": False, **overrides}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
async def served() -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running_app(make_settings()) as pair:
        yield pair


@pytest.fixture(scope="session")
async def client(served: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return served[1]


@pytest.fixture(scope="session")
def app(served: tuple[FastAPI, httpx.AsyncClient]) -> FastAPI:
    return served[0]


@pytest.fixture(scope="session")
def committed_models() -> list[str]:
    return ModelStore(MODELS_STORE).model_names()


@pytest.fixture(scope="session")
def clear_digits(golden_digits: list[tuple[np.ndarray, int]]) -> list[tuple[np.ndarray, int]]:
    """The golden digits a person reads without doubt (one of them is a 7 that looks like a 2)."""
    artifact = ModelStore(MODELS_STORE).load("digits-cnn")
    confident = artifact.golden.probabilities.max(dim=1).values > 0.8
    return [digit for digit, keep in zip(golden_digits, confident.tolist(), strict=True) if keep]


@pytest.fixture(scope="session")
def golden_digits() -> list[tuple[np.ndarray, int]]:
    """Real MNIST digits that ship inside the committed artifact, with the label the model gives them."""
    artifact = ModelStore(MODELS_STORE).load("digits-cnn")
    assert artifact.golden.pixels is not None
    labels = artifact.golden.probabilities.argmax(dim=1).tolist()
    return list(zip(artifact.golden.pixels.numpy(), labels, strict=True))


def png_bytes(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


ImageMaker = Callable[[np.ndarray], bytes]


@pytest.fixture
def tmp_store(tmp_path: Path) -> Path:
    """A writable copy of the committed store, for tests that break artifacts."""
    target = tmp_path / "models_store"
    shutil.copytree(MODELS_STORE, target, ignore=shutil.ignore_patterns("*.png"))
    return target
