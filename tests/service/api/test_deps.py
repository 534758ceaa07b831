from collections.abc import AsyncIterator

import httpx
import pytest

from tests.service.conftest import make_settings, running_app

pytestmark = pytest.mark.asyncio

KEY = "s3cret-key-A"


@pytest.fixture(scope="module")
async def secured() -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(make_settings(api_keys=[KEY, "other-key"], models=["names-gru"])) as (_, client):
        yield client


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": f"Bearer {KEY[:-1]}B"}, 401),  # differs only in the last character
        ({"X-API-Key": KEY[:-1]}, 401),
        ({"Authorization": f"Basic {KEY}"}, 401),
        ({"Authorization": f"Bearer {KEY}"}, 200),
        ({"authorization": f"bearer {KEY}"}, 200),
        ({"X-API-Key": KEY}, 200),
        ({"X-API-Key": "other-key"}, 200),
    ],
)
async def test_v1_needs_a_key(secured: httpx.AsyncClient, headers: dict[str, str], status: int) -> None:
    response = await secured.post("/v1/names/predict", json={"names": ["Rossi"]}, headers=headers)
    assert response.status_code == status, response.text
    if status == 401:
        assert response.json()["error"]["type"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/names-gru"])
async def test_model_listing_needs_a_key_too(secured: httpx.AsyncClient, path: str) -> None:
    assert (await secured.get(path)).status_code == 401
    assert (await secured.get(path, headers={"X-API-Key": KEY})).status_code == 200


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/metrics"])
async def test_health_and_metrics_stay_open(secured: httpx.AsyncClient, path: str) -> None:
    assert (await secured.get(path)).status_code == 200
