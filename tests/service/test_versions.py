"""Several versions of one model served at once, addressed by version; the admin routes that roll them."""

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from service.logs import JSONFormatter
from tests.service.conftest import TEST_DEVICE, make_settings, running_app
from tests.service.stores import MODEL, add_version, added, corrupt_weights, relabel, retrain_badly, transitions

pytestmark = pytest.mark.asyncio

BODY = {"images": [{"pixels": [[0] * 28 for _ in range(28)]}]}
ADMIN = {"x-admin-key": "admin-secret"}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    add_version(root, 1)
    add_version(root, 2)
    return root


@pytest.fixture(scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    """One app for the tests that change nothing: both versions, admin routes on."""
    root = tmp_path_factory.mktemp("versions") / "store"
    add_version(root, 1)
    add_version(root, 2)
    async with running_app(settings(root, admin_keys="admin-secret")) as (_, client):
        yield client


def settings(store: Path, **overrides: object) -> object:
    values: dict[str, object] = {"model_store": store, "models": [f"{MODEL}:1", f"{MODEL}:2"], "autotune": False}
    return make_settings(**{**values, **overrides})


async def test_both_versions_answer_and_the_highest_is_current(store: Path) -> None:
    async with running_app(settings(store)) as (_, client):
        plain = await client.post(f"/v1/models/{MODEL}/predict", json=BODY)
        by_body = await client.post("/v1/digits/predict", json={**BODY, "model": f"{MODEL}:1"})
        by_name = await client.post(f"/v1/models/{MODEL}:1/predict", json=BODY)
        by_route = await client.post(f"/v1/models/{MODEL}/versions/1/predict", json=BODY)
        v2_infer = await client.post(
            f"/v2/models/{MODEL}/versions/1/infer",
            json={"inputs": [{"name": "images", "datatype": "UINT8", "shape": [1, 28, 28], "data": [0] * 784}]},
        )
        v2_meta = await client.get(f"/v2/models/{MODEL}")
        info = await client.get(f"/v1/models/{MODEL}")
    assert plain.status_code == 200 and plain.json()["version"] == 2
    for response in (by_body, by_name, by_route):
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 1
        assert response.json()["predictions"] == plain.json()["predictions"]  # the same weights
    assert v2_infer.status_code == 200 and v2_infer.json()["model_version"] == "1", v2_infer.text
    assert v2_meta.json()["versions"] == ["1", "2"]
    body = info.json()
    assert body["version"] == 2 and body["versions"] == [1, 2]
    roles = {v["version"]: (v["role"], v["traffic_share"], v["status"]) for v in body["loaded_versions"]}
    assert roles == {1: ("loaded", 0.0, "ready"), 2: ("current", 1.0, "ready")}


@pytest.mark.parametrize(
    ("path", "json_model", "message"),
    [
        (
            f"/v1/models/{MODEL}/versions/3/predict",
            None,
            "is not loaded; this server serves versions 1, 2",
        ),
        (f"/v1/models/{MODEL}/versions/01/predict", None, "has no version '01'"),
        (f"/v1/models/{MODEL}/versions/99999999999/predict", None, "versions are numbers"),
        ("/v1/digits/predict", f"{MODEL}:²", "has no version '²'"),
        ("/v1/digits/predict", f"{MODEL}:-1", "has no version '-1'"),
        ("/v1/digits/predict", f"{MODEL}:/etc/passwd", "has no version '/etc/passwd'"),
        ("/v1/digits/predict", "../digits-cnn:1", "is not served here"),
    ],
)
async def test_unknown_or_hostile_versions_are_404(
    shared: httpx.AsyncClient, path: str, json_model: str | None, message: str
) -> None:
    body = {**BODY, "model": json_model} if json_model else BODY
    response = await shared.post(path, json=body)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["type"] == "model_not_found"
    assert message in response.json()["error"]["message"]


async def test_admin_routes_do_not_exist_without_an_admin_key(store: Path) -> None:
    async with running_app(settings(store, api_keys="user-key")) as (_, client):
        response = await client.post(f"/v1/admin/models/{MODEL}/reload", headers={"x-api-key": "user-key"})
        schema = (await client.get("/openapi.json")).json()
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"
    assert not [path for path in schema["paths"] if path.startswith("/v1/admin")]


WRONG_KEYS = [
    {},
    {"x-admin-key": "wrong"},
    {"x-api-key": "user-key"},  # a /v1 key is never an admin key
    {"authorization": "Bearer user-key"},
    {"authorization": "Basic admin-secret"},
    {"x-admin-key": "admin-secret-and-more"},
]


async def test_admin_routes_need_an_admin_key(store: Path) -> None:
    answers = []
    async with running_app(settings(store, api_keys="user-key", admin_keys="admin-secret")) as (_, client):
        for headers in WRONG_KEYS:
            answers.append(await client.post(f"/v1/admin/models/{MODEL}/reload", headers=headers))
            answers.append(await client.post(f"/v1/admin/models/{MODEL}/unload?version=1", headers=headers))
        still = await client.get(f"/v1/models/{MODEL}", headers={"x-api-key": "user-key"})
        opened = await client.post(f"/v1/admin/models/{MODEL}/reload", headers=ADMIN)
    for answer in answers:
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["type"] == "unauthorized"
    assert [v["version"] for v in still.json()["loaded_versions"]] == [1, 2]
    assert opened.status_code == 200 and opened.json()["outcome"] == "unchanged"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/v1/admin/models/{MODEL}/reload?version=0", 422),
        (f"/v1/admin/models/{MODEL}/reload?version=-3", 422),
        (f"/v1/admin/models/{MODEL}/reload?version=1e3", 422),
        (f"/v1/admin/models/{MODEL}/reload?version=..%2F..%2Fetc", 422),
        (f"/v1/admin/models/{MODEL}/reload?version=99999999999999999999", 422),
        (f"/v1/admin/models/{MODEL}/unload", 422),  # which version: required
        ("/v1/admin/models/..%2Fetc/reload", 404),
        ("/v1/admin/models/nope/reload", 404),
        (f"/v1/admin/models/{MODEL}/reload?version=7", 409),  # not in the store
        (f"/v1/admin/models/{MODEL}/unload?version=7", 409),  # not loaded
    ],
)
async def test_hostile_admin_input_is_refused(shared: httpx.AsyncClient, path: str, status: int) -> None:
    response = await shared.post(path, headers=ADMIN)
    after = await shared.get(f"/v1/models/{MODEL}")
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"}
    assert after.json()["version"] == 2 and len(after.json()["loaded_versions"]) == 2


async def test_admin_unload_then_reload(store: Path) -> None:
    async with running_app(settings(store, admin_keys="admin-secret")) as (_, client):
        start = (await client.get("/metrics")).text
        unloaded = await client.post(f"/v1/admin/models/{MODEL}/unload?version=2", headers=ADMIN)
        after_unload = await client.post(f"/v1/models/{MODEL}/predict", json=BODY)
        gone = await client.post(f"/v1/models/{MODEL}/versions/2/predict", json=BODY)
        last = await client.post(f"/v1/admin/models/{MODEL}/unload?version=1", headers=ADMIN)
        reloaded = await client.post(f"/v1/admin/models/{MODEL}/reload", headers=ADMIN)
        again = await client.post(f"/v1/admin/models/{MODEL}/reload", headers=ADMIN)
        after_reload = await client.post(f"/v1/models/{MODEL}/predict", json=BODY)
        info = (await client.get(f"/v1/models/{MODEL}")).json()
        metrics = (await client.get("/metrics")).text
    assert unloaded.status_code == 200
    assert unloaded.json() | {"detail": ""} == {
        "model": MODEL,
        "from_version": 2,
        "to_version": 1,
        "outcome": "unloaded",
        "reason": "admin",
        "detail": "",
    }
    assert after_unload.json()["version"] == 1
    assert gone.status_code == 404
    assert last.status_code == 409 and "only one loaded" in last.json()["error"]["message"]
    assert reloaded.status_code == 200, reloaded.text
    assert (reloaded.json()["from_version"], reloaded.json()["to_version"]) == (1, 2)
    assert reloaded.json()["outcome"] == "promoted"
    assert again.json()["outcome"] == "unchanged"
    assert after_reload.json()["version"] == 2
    assert [v["version"] for v in info["loaded_versions"]] == [2]  # version 1 drained and unloaded
    assert added(transitions(start, "admin"), transitions(metrics, "admin")) == {("2", "1"): 1.0, ("1", "2"): 1.0}
    assert added(transitions(start, "replaced"), transitions(metrics, "replaced")) == {("1", "2"): 1.0}
    assert added(transitions(start, "unload"), transitions(metrics, "unload")) == {("2", "1"): 1.0}
    assert f'tinyserve_model_info{{device="{TEST_DEVICE}",name="{MODEL}",version="1"}} 0.0' in metrics


@pytest.mark.parametrize(
    ("breakage", "reason", "message"),
    [
        (corrupt_weights, "integrity", "sha256"),
        (retrain_badly, "golden_mismatch", "golden check failed"),
        (relabel, "labels_changed", "not a drop-in replacement"),
    ],
)
async def test_a_corrupt_version_is_refused_and_the_current_one_keeps_serving(
    store: Path, breakage: object, reason: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    lifecycle_log = logging.getLogger("tinyserve.lifecycle")
    lifecycle_log.addHandler(caplog.handler)  # the service's loggers do not propagate to the root
    try:
        async with running_app(settings(store, admin_keys="admin-secret")) as (_, client):
            start = (await client.get("/metrics")).text
            breakage(add_version(store, 3))  # type: ignore[operator]
            refused = await client.post(f"/v1/admin/models/{MODEL}/reload", headers=ADMIN)
            ready = await client.get("/health/ready")
            answer = await client.post(f"/v1/models/{MODEL}/predict", json=BODY)
            metrics = (await client.get("/metrics")).text
    finally:
        lifecycle_log.removeHandler(caplog.handler)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["type"] == "version_refused"
    assert message in refused.json()["error"]["message"]
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert answer.status_code == 200 and answer.json()["version"] == 2
    assert added(transitions(start, reason), transitions(metrics, reason)) == {("2", "3"): 1.0}
    lines = [
        json.loads(JSONFormatter().format(record)) for record in caplog.records if record.name == lifecycle_log.name
    ]
    refusal = next(line for line in lines if line.get("outcome") == "refused")
    assert refusal["event"] == "model_transition" and refusal["level"] == "warning"
    assert (refusal["model"], refusal["from_version"], refusal["to_version"]) == (MODEL, 2, 3)
    assert refusal["reason"] == reason and message in refusal["detail"]


async def test_admin_traffic_loads_a_canary_and_splits_then_shadows(store: Path) -> None:
    one = make_settings(model_store=store, models=[f"{MODEL}:1"], autotune=False, admin_keys="admin-secret")
    route = f"/v1/admin/models/{MODEL}/traffic"
    async with running_app(one) as (_, client):
        split = await client.post(route, json={"weights": {"1": 0, "2": 100}}, headers=ADMIN)
        to_canary = [(await client.post(f"/v1/models/{MODEL}/predict", json=BODY)).json()["version"] for _ in range(5)]
        listed = (await client.get(f"/v1/models/{MODEL}")).json()
        shadowed = await client.post(route, json={"shadow": 2}, headers=ADMIN)
        back = [(await client.post(f"/v1/models/{MODEL}/predict", json=BODY)).json()["version"] for _ in range(5)]
        roles = {v["version"]: v["role"] for v in (await client.get(f"/v1/models/{MODEL}")).json()["loaded_versions"]}
        bad_sum = await client.post(route, json={"weights": {"1": 50, "2": 40}}, headers=ADMIN)
        missing = await client.post(route, json={"weights": {"1": 50, "7": 50}}, headers=ADMIN)
        extra = await client.post(route, json={"weights": None, "path": "/etc"}, headers=ADMIN)
    assert split.status_code == 200, split.text
    assert split.json() == {
        "model": MODEL,
        "current": 1,
        "shares": {"1": 0.0, "2": 1.0},
        "shadow": None,
        "sticky": False,
    }
    assert to_canary == [2] * 5
    assert {v["version"]: (v["role"], v["traffic_share"]) for v in listed["loaded_versions"]} == {
        1: ("current", 0.0),
        2: ("canary", 1.0),
    }
    assert shadowed.status_code == 200 and shadowed.json()["shares"] == {"1": 1.0}
    assert back == [1] * 5
    assert roles == {1: "current", 2: "shadow"}
    assert bad_sum.status_code == 422 and "sum to 100" in bad_sum.json()["error"]["message"]
    assert missing.status_code == 409 and "not in the store" in missing.json()["error"]["message"]
    assert extra.status_code == 422
