"""Hostile use of the admin routes (service/api/admin.py): keys in the wrong place, paths where a
version number belongs, a storm of concurrent reloads. The store is the only source of versions."""

import asyncio
from pathlib import Path

import pytest

from tests.hardening import tally
from tests.service.conftest import make_settings, running_app
from tests.service.stores import MODEL, add_version

pytestmark = pytest.mark.asyncio

ADMIN_KEY = "admin-key-of-some-length"
ADMIN = {"x-admin-key": ADMIN_KEY}
BODY = {"images": [{"pixels": [[0] * 28 for _ in range(28)]}]}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    add_version(root, 1)
    return root


async def test_keys_in_the_wrong_place_never_open_anything(store: Path) -> None:
    settings = make_settings(model_store=store, models=[MODEL], api_keys="user-key", admin_keys=ADMIN_KEY)
    async with running_app(settings) as (_, client):
        in_query = await client.post(f"/v1/admin/models/{MODEL}/reload?x-admin-key={ADMIN_KEY}")
        in_cookie = await client.post(
            f"/v1/admin/models/{MODEL}/reload", headers={"cookie": f"x-admin-key={ADMIN_KEY}"}
        )
        admin_as_api_key = await client.post(f"/v1/models/{MODEL}/predict", json=BODY, headers={"x-api-key": ADMIN_KEY})
        huge = await client.post(f"/v1/admin/models/{MODEL}/reload", headers={"x-admin-key": "k" * 6000})
        prefix = await client.post(f"/v1/admin/models/{MODEL}/reload", headers={"x-admin-key": ADMIN_KEY[:-1]})
        get = await client.get(f"/v1/admin/models/{MODEL}/reload", headers=ADMIN)
    for response in (in_query, in_cookie, admin_as_api_key, prefix):
        tally.record("hostile admin: misplaced keys", response.status_code)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["type"] == "unauthorized"
    assert huge.status_code in (401, 431), huge.text
    assert get.status_code == 405


HOSTILE_PATHS = [
    f"/v1/admin/models/{MODEL}/reload?version=1/../2",
    f"/v1/admin/models/{MODEL}/reload?version=%2Fetc%2Fpasswd",
    f"/v1/admin/models/{MODEL}/reload?version=file:///etc/passwd",
    f"/v1/admin/models/{MODEL}/reload?version=http://127.0.0.1:1/evil",
    f"/v1/admin/models/{MODEL}/reload?version=%00",
    f"/v1/admin/models/{MODEL}/reload?version=%EF%BC%92",  # a fullwidth 2
    f"/v1/admin/models/{MODEL}/unload?version=1e0",
    "/v1/admin/models/%2e%2e/reload",
    "/v1/admin/models/..%2f..%2ftmp/reload",
    "/v1/admin/models/DIGITS-CNN/reload",
]


async def test_no_path_or_url_reaches_the_loader(store: Path) -> None:
    settings = make_settings(model_store=store, models=[MODEL], admin_keys=ADMIN_KEY)
    async with running_app(settings) as (_, client):
        responses = [await client.post(path, headers=ADMIN) for path in HOSTILE_PATHS]
        answer = await client.post(f"/v1/models/{MODEL}/predict", json=BODY)
        listed = (await client.get(f"/v1/models/{MODEL}")).json()
    for path, response in zip(HOSTILE_PATHS, responses, strict=True):
        tally.record("hostile admin: paths for versions", response.status_code)
        assert response.status_code in (404, 405, 422), (path, response.text)
        assert set(response.json()) == {"error"}, path
    assert answer.status_code == 200 and answer.json()["version"] == 1
    assert [v["version"] for v in listed["loaded_versions"]] == [1]


async def test_a_storm_of_reloads_promotes_once(store: Path) -> None:
    settings = make_settings(model_store=store, models=[MODEL], admin_keys=ADMIN_KEY, autotune=False)
    async with running_app(settings) as (app, client):
        add_version(store, 2)
        storm = [client.post(f"/v1/admin/models/{MODEL}/reload", headers=ADMIN) for _ in range(8)]
        answers = await asyncio.gather(*storm)
        listed = (await client.get(f"/v1/models/{MODEL}")).json()
    outcomes = sorted(answer.json()["outcome"] for answer in answers)
    assert [answer.status_code for answer in answers] == [200] * 8
    assert outcomes == ["promoted"] + ["unchanged"] * 7
    assert [v["version"] for v in listed["loaded_versions"]] == [2]
    assert app.state.registry.get(MODEL).version == 2
