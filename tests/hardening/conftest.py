"""The app every hostile-input test talks to, the "still serves" check and the tally summary."""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import numpy as np
import pytest

from artifacts import ModelStore
from tests.hardening import tally
from tests.paths import MODELS_STORE
from tests.service.conftest import make_settings, running_app


@dataclass(frozen=True)
class Reference:
    """Inputs with known answers: real MNIST digits from digits-cnn's artifact, and clear surnames."""

    digits: list[tuple[np.ndarray, int]]  # (pixels, label) the model reads without doubt
    names: dict[str, str]  # surname -> country


REFERENCE_NAMES = {"Nakamura": "Japanese", "Dvořák": "Czech", "Иванов": "Russian"}


@pytest.fixture(scope="session")
def reference() -> Reference:
    golden = ModelStore(MODELS_STORE).load("digits-cnn").golden
    assert golden.pixels is not None
    best = golden.probabilities.max(dim=1)
    digits = [
        (pixels, int(label))
        for pixels, label, p in zip(golden.pixels.numpy(), best.indices.tolist(), best.values.tolist(), strict=True)
        if p > 0.8
    ]
    return Reference(digits=digits, names=REFERENCE_NAMES)


@pytest.fixture(scope="session")
async def hardened() -> AsyncIterator[httpx.AsyncClient]:
    """Every model in the store, default limits, served in-process with its lifespan."""
    async with running_app(make_settings()) as (_, client):
        yield client


StillServes = Callable[[], Awaitable[None]]


@pytest.fixture(scope="session")
def still_serves(hardened: httpx.AsyncClient, reference: Reference) -> StillServes:
    """Check that a correct prediction still works: run it after every hostile request."""

    async def check() -> None:
        pixels, label = reference.digits[0]
        digits = await hardened.post("/v1/digits/predict", json={"images": [{"pixels": pixels.tolist()}]})
        assert digits.status_code == 200, digits.text
        assert digits.json()["predictions"][0]["digit"] == label
        names = await hardened.post("/v1/names/predict", json={"names": ["Nakamura"]})
        assert names.status_code == 200, names.text
        assert names.json()["predictions"][0]["country"] == "Japanese"

    return check


def assert_error(response: httpx.Response, status: int, kind: str, fragment: str, input_class: str) -> None:
    """The documented error: status, the envelope, its type, a message fragment and the request id."""
    tally.record(input_class, response.status_code)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["type"] == kind, error
    assert fragment in error["message"], error
    assert error["request_id"] == response.headers["x-request-id"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if tally.SENT:
        terminalreporter.write_sep("-", "hardening: requests sent by input class")
        terminalreporter.write_line(tally.table())
