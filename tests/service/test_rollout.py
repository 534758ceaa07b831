"""Rolling a new version out under load (admin call, store polling, SIGHUP), canary splits, shadow
copies and automatic rollback, each through the real app."""

import asyncio
import gc
import os
import re
import signal
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from service.runtime.registry import BatchCounts
from tests.service.conftest import make_settings, running_app, wait_until
from tests.service.faults import FaultyForward, rebuilt
from tests.service.stores import MODEL, SLOW_BODY, add_version, added, transitions

pytestmark = pytest.mark.asyncio

BODY = {"images": [{"pixels": [[0] * 28 for _ in range(28)]}]}
ADMIN = {"x-admin-key": "admin-secret"}
CONCURRENCY = 16


@dataclass(frozen=True)
class Answer:
    status: int
    version: int | None
    current_before: int  # the model's current version when the request was sent
    current_after: int  # and when its answer came back


async def drive(
    app: FastAPI, client: httpx.AsyncClient, total: int, during: Callable[[], Awaitable[None]], at: int
) -> list[Answer]:
    """``total`` requests from ``CONCURRENCY`` clients; ``during()`` starts once ``at`` have been answered."""
    served = app.state.registry.get(MODEL)
    answers: list[Answer] = []
    sent = 0
    started = asyncio.Event()

    async def client_loop() -> None:
        nonlocal sent
        while sent < total:
            sent += 1
            before = served.version
            response = await client.post(f"/v1/models/{MODEL}/predict", json=SLOW_BODY if sent % 2 else BODY)
            version = response.json().get("version") if response.status_code == 200 else None
            answers.append(Answer(response.status_code, version, before, served.version))
            if len(answers) >= at:
                started.set()

    async def trigger() -> None:
        await started.wait()
        await during()

    await asyncio.gather(*(client_loop() for _ in range(CONCURRENCY)), trigger())
    return answers


def check_answers(answers: list[Answer], old: int, new: int) -> None:
    assert len(answers) > 0
    failed = [a for a in answers if a.status != 200]
    assert not failed, f"{len(failed)} failed requests, e.g. {failed[:3]}"
    # Each answer comes from a version that was current between the request's sending and its answer.
    assert all(a.version is not None and a.current_before <= a.version <= a.current_after for a in answers)
    versions = [a.version for a in answers]
    assert versions[0] == old and versions[-1] == new, (versions[0], versions[-1])
    assert {old, new} == set(versions)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    add_version(root, 1)
    return root


async def test_reload_under_load_by_each_trigger(store: Path) -> None:
    """About 2,000 requests at c=16 in three runs, one per trigger: version 2 appears in the store and the
    admin route rolls it out, then version 3 and polling, then version 4 and SIGHUP."""
    per_run = 680
    admin = make_settings(model_store=store, models=[MODEL], autotune=False, admin_keys="admin-secret")
    async with running_app(admin) as (app, client):
        start = (await client.get("/metrics")).text

        async def by_admin() -> None:
            add_version(store, 2)
            response = await client.post(f"/v1/admin/models/{MODEL}/reload", headers=ADMIN)
            assert response.status_code == 200 and response.json()["outcome"] == "promoted", response.text

        answers = await drive(app, client, per_run, by_admin, at=100)
        listed = (await client.get(f"/v1/models/{MODEL}")).json()
        metrics = (await client.get("/metrics")).text
    check_answers(answers, 1, 2)
    assert listed["version"] == 2 and [v["version"] for v in listed["loaded_versions"]] == [2]
    assert added(transitions(start, "admin"), transitions(metrics, "admin")) == {("1", "2"): 1.0}

    polling = make_settings(model_store=store, models=[MODEL], autotune=False, store_poll_s=0.2)
    async with running_app(polling) as (app, client):
        served = app.state.registry.get(MODEL)
        start = (await client.get("/metrics")).text

        async def appears() -> None:
            add_version(store, 3)
            await wait_until(lambda: served.version == 3, 60, "polling never rolled version 3 out")

        answers = await drive(app, client, per_run, appears, at=100)
        listed = (await client.get(f"/v1/models/{MODEL}")).json()
        metrics = (await client.get("/metrics")).text
    check_answers(answers, 2, 3)
    assert listed["version"] == 3 and [v["version"] for v in listed["loaded_versions"]] == [3]
    assert added(transitions(start, "poll"), transitions(metrics, "poll")) == {("2", "3"): 1.0}

    async with running_app(make_settings(model_store=store, models=[MODEL], autotune=False)) as (app, client):
        assert app.state.sighup, "no SIGHUP handler: the signal would end the test process"
        served = app.state.registry.get(MODEL)
        start = (await client.get("/metrics")).text

        async def hang_up() -> None:
            add_version(store, 4)
            os.kill(os.getpid(), signal.SIGHUP)
            await wait_until(lambda: served.version == 4, 60, "SIGHUP never rolled version 4 out")

        answers = await drive(app, client, 2000 - 2 * per_run, hang_up, at=100)
        listed = (await client.get(f"/v1/models/{MODEL}")).json()
        ready = await client.get("/health/ready")
        metrics = (await client.get("/metrics")).text
    check_answers(answers, 3, 4)
    assert listed["version"] == 4 and [v["version"] for v in listed["loaded_versions"]] == [4]
    assert ready.status_code == 200
    assert added(transitions(start, "sighup"), transitions(metrics, "sighup")) == {("3", "4"): 1.0}


async def test_polling_skips_a_refused_version_until_told(store: Path) -> None:
    settings = make_settings(model_store=store, models=[MODEL], autotune=False, store_poll_s=0.05)
    async with running_app(settings) as (app, client):
        served = app.state.registry.get(MODEL)
        start = (await client.get("/metrics")).text
        folder = add_version(store, 2)
        (folder / "golden.safetensors").write_bytes(b"not a tensor file")
        await wait_until(lambda: 2 in served.refused, 30, "polling never tried version 2")
        first_reason = served.refused[2]
        await asyncio.sleep(0.3)  # several polls: none tries it again
        metrics = (await client.get("/metrics")).text
        answer = await client.post(f"/v1/models/{MODEL}/predict", json=BODY)
    assert "sha256" in first_reason
    assert added(transitions(start, "integrity"), transitions(metrics, "integrity")) == {("1", "2"): 1.0}
    assert answer.status_code == 200 and answer.json()["version"] == 1


async def test_canary_split_lands_within_three_points(store: Path) -> None:
    add_version(store, 2)
    settings = make_settings(model_store=store, models=[f"{MODEL}:1"], autotune=False, traffic=f"{MODEL}=1:90,2:10")
    async with running_app(settings) as (_, client):
        # Read at once: the gauge is process-wide, and a version 2 of this model name in an earlier
        # test's app may still be draining on the shared event loop.
        metrics = (await client.get("/metrics")).text
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one() -> int:
            async with semaphore:
                response = await client.post(f"/v1/models/{MODEL}/predict", json=BODY)
                assert response.status_code == 200
                return int(response.json()["version"])

        versions = await asyncio.gather(*(one() for _ in range(2000)))
        listed = (await client.get(f"/v1/models/{MODEL}")).json()
    share = versions.count(2) / len(versions)
    assert abs(share - 0.10) <= 0.03, share
    assert {v["version"]: (v["role"], v["traffic_share"]) for v in listed["loaded_versions"]} == {
        1: ("current", 0.9),
        2: ("canary", 0.1),
    }
    assert f'tinyserve_model_traffic_share{{model="{MODEL}",version="2"}} 0.1' in metrics


async def test_a_sticky_split_keeps_a_request_id_on_one_version(store: Path) -> None:
    add_version(store, 2)
    settings = make_settings(
        model_store=store,
        models=[f"{MODEL}:1"],
        autotune=False,
        traffic=f"{MODEL}=1:50,2:50",
        traffic_sticky=True,
    )
    async with running_app(settings) as (_, client):
        seen: dict[str, set[int]] = {}
        for i in range(40):
            for _ in range(3):
                response = await client.post(
                    f"/v1/models/{MODEL}/predict", json=BODY, headers={"x-request-id": f"user-{i}"}
                )
                seen.setdefault(f"user-{i}", set()).add(response.json()["version"])
    assert all(len(versions) == 1 for versions in seen.values()), seen
    assert {next(iter(v)) for v in seen.values()} == {1, 2}  # both versions get some ids


async def test_shadow_agreement_of_identical_versions_is_complete(store: Path) -> None:
    add_version(store, 2)
    settings = make_settings(model_store=store, models=[f"{MODEL}:1"], autotune=False, shadow=f"{MODEL}=2")
    async with running_app(settings) as (app, client):
        start = (await client.get("/metrics")).text
        rng = np.random.default_rng(0)
        for _ in range(50):
            pixels = rng.integers(0, 256, (28, 28)).tolist()
            response = await client.post(f"/v1/models/{MODEL}/predict", json={"images": [{"pixels": pixels}]})
            assert response.status_code == 200 and response.json()["version"] == 1
        shadow = app.state.registry.get(MODEL).current.ready.shadow
        await shadow.settle()
        metrics = (await client.get("/metrics")).text
        listed = (await client.get(f"/v1/models/{MODEL}")).json()
    labels = f'model="{MODEL}",shadow="2",version="1"'
    assert f"tinyserve_shadow_top1_agreement{{{labels}}} 1.0" in metrics
    difference = re.search(rf"tinyserve_shadow_mean_abs_difference{{{labels}}} (\S+)", metrics)
    assert difference is not None and float(difference.group(1)) < 1e-6  # batches of other sizes: float rounding
    assert rows(metrics, labels) - rows(start, labels) == 50
    by_version = {v["version"]: v for v in listed["loaded_versions"]}
    assert by_version[2]["role"] == "shadow" and by_version[2]["shadow_agreement"] == 1.0
    assert by_version[2]["traffic_share"] == 0.0


async def test_v2_requests_feed_the_shadow_too(store: Path) -> None:
    add_version(store, 2)
    settings = make_settings(model_store=store, models=[f"{MODEL}:1"], autotune=False, shadow=f"{MODEL}=2")
    async with running_app(settings) as (app, client):
        start = (await client.get("/metrics")).text
        body = {"inputs": [{"name": "images", "shape": [3, 28, 28], "datatype": "UINT8", "data": [7] * 3 * 784}]}
        response = await client.post(f"/v2/models/{MODEL}/infer", json=body)
        assert response.status_code == 200, response.text
        await app.state.registry.get(MODEL).current.ready.shadow.settle()
        metrics = (await client.get("/metrics")).text
    labels = f'model="{MODEL}",shadow="2",version="1"'
    assert rows(metrics, labels) - rows(start, labels) == 3
    assert f"tinyserve_shadow_top1_agreement{{{labels}}} 1.0" in metrics


async def test_a_disagreeing_shadow_is_never_promoted(store: Path) -> None:
    add_version(store, 2, source="digits-mlp")  # another network: passes its own golden check, answers otherwise
    settings = make_settings(
        model_store=store,
        models=[f"{MODEL}:1"],
        autotune=False,
        shadow=f"{MODEL}=2",
        shadow_min_agreement=0.99,
        shadow_min_rows=30,
        admin_keys="admin-secret",
    )
    async with running_app(settings) as (app, client):
        rng = np.random.default_rng(1)
        for _ in range(30):
            pixels = rng.integers(0, 256, (28, 28)).tolist()
            await client.post(f"/v1/models/{MODEL}/predict", json={"images": [{"pixels": pixels}]})
        shadow = app.state.registry.get(MODEL).current.ready.shadow
        await shadow.settle()
        refused = await client.post(f"/v1/admin/models/{MODEL}/reload?version=2", headers=ADMIN)
        answer = await client.post(f"/v1/models/{MODEL}/predict", json=BODY)
    assert shadow.stats.rows == 30 and shadow.stats.agreement is not None and shadow.stats.agreement < 0.99
    assert refused.status_code == 409 and "shadow top-1 agreement" in refused.json()["error"]["message"]
    assert answer.json()["version"] == 1


async def test_a_failing_new_version_is_rolled_back(store: Path) -> None:
    settings = make_settings(
        model_store=store,
        models=[MODEL],
        autotune=False,
        admin_keys="admin-secret",
        rollback_error_rate=0.5,
        rollback_min_batches=5,
        rollback_window_s=60,
        request_timeout_s=5,
    )
    async with running_app(settings) as (app, client):
        served = app.state.registry.get(MODEL)
        start = (await client.get("/metrics")).text
        add_version(store, 2)
        promoted = await client.post(f"/v1/admin/models/{MODEL}/reload", headers=ADMIN)
        kept = (await client.get(f"/v1/models/{MODEL}")).json()["loaded_versions"]
        new = served.current
        # Version 2 starts failing on live traffic (as a CUDA fault would): every batch raises.
        failing = FaultyForward(new.runner.forward, fail_calls=frozenset(range(1, 10_000)))
        new.counts = BatchCounts(failing)
        served.batcher = rebuilt(new.batcher, new.counts)
        served.batcher.start()
        statuses = []
        for _ in range(10):  # past rollback_min_batches; the watch may roll back while they run
            response = await client.post(f"/v1/models/{MODEL}/predict", json=BODY)
            statuses.append((response.status_code, response.json().get("version")))
        await wait_until(lambda: served.version == 1, 10, "version 2 was never rolled back")
        after = await client.post(f"/v1/models/{MODEL}/predict", json=BODY)
        metrics = (await client.get("/metrics")).text
    assert promoted.status_code == 200 and promoted.json()["to_version"] == 2
    assert {v["version"]: v["role"] for v in kept} == {1: "previous", 2: "current"}
    assert statuses[0][0] == 500 and set(statuses) <= {(500, None), (200, 1)}
    assert after.status_code == 200 and after.json()["version"] == 1
    assert added(transitions(start, "error_rate"), transitions(metrics, "error_rate")) == {("2", "1"): 1.0}
    assert 2 in served.refused


async def test_unloading_returns_the_memory(store: Path) -> None:
    """After a version is replaced and unloaded, nothing holds its model any more and RSS is within 5% of
    what it was before the new version was loaded. (TorchScript's global compilation unit keeps each
    traced graph's constants, pytorch/pytorch#35600: a few MiB per load that no unload can return.)"""
    add_version(store, 1, source="digits-mlp", name="digits-mlp")
    add_version(store, 2, source="digits-mlp", name="digits-mlp")
    settings = make_settings(model_store=store, models=["digits-mlp:1"], autotune=False, admin_keys="admin-secret")
    async with running_app(settings) as (app, client):
        served = app.state.registry.get("digits-mlp")
        old_model = weakref.ref(served.current.runner)
        before = rss_bytes()
        response = await client.post("/v1/admin/models/digits-mlp/reload?version=2", headers=ADMIN)
        gc.collect()
        after = rss_bytes()
        answer = await client.post("/v1/models/digits-mlp/predict", json=BODY)
    print(f"RSS before loading version 2: {before / 2**20:.1f} MiB; after unloading version 1: {after / 2**20:.1f} MiB")
    assert response.status_code == 200 and response.json()["outcome"] == "promoted", response.text
    assert answer.json()["version"] == 2
    assert old_model() is None, "version 1's runner is still referenced after its unload"
    assert after <= before * 1.05, (before, after)


def rows(metrics: str, labels: str) -> float:
    found = re.search(rf"tinyserve_shadow_rows_total{{{labels}}} (\S+)", metrics)
    return float(found.group(1)) if found else 0.0


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def test_a_second_promotion_within_the_watch_retires_the_first_previous(store: Path) -> None:
    settings = make_settings(
        model_store=store, models=[MODEL], autotune=False, admin_keys="admin-secret", rollback_error_rate=0.5
    )
    async with running_app(settings) as (_, client):
        add_version(store, 2)
        first = await client.post(f"/v1/admin/models/{MODEL}/reload", headers=ADMIN)
        add_version(store, 3)
        second = await client.post(f"/v1/admin/models/{MODEL}/reload", headers=ADMIN)
        listed = (await client.get(f"/v1/models/{MODEL}")).json()
    assert (first.json()["to_version"], second.json()["to_version"]) == (2, 3)
    assert {v["version"]: v["role"] for v in listed["loaded_versions"]} == {2: "previous", 3: "current"}
