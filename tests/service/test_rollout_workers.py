"""Reloads of a real `tinyserve serve` process on loopback: under load over TCP, and with several workers."""

import asyncio
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import running_server
from tests.service.stores import MODEL, SLOW_BODY, add_version

BODY = {"images": [{"pixels": [[0] * 28 for _ in range(28)]}]}
CONCURRENCY = 16


def test_sighup_to_the_supervisor_reloads_every_worker_and_readiness_holds(tmp_path: Path) -> None:
    store = tmp_path / "store"
    add_version(store, 1)
    environment = {
        "TMPDIR": str(tmp_path),
        "TINYSERVE_MODEL_STORE": str(store),
        "TINYSERVE_MODELS": MODEL,
        "TINYSERVE_AUTOTUNE": "false",
        "TINYSERVE_CPU_AFFINITY": "off",
    }
    with running_server("--workers", "2", **environment) as (base, process):
        # Ready answers come from the first worker up; the second may still be loading (it would answer
        # the signal once loaded, but this test wants a reload in each, not a start of version 2).
        deadline = time.monotonic() + 60
        while promotions_of(httpx.get(f"{base}/metrics", timeout=10).text, "start", "none", 1) < 2:
            assert time.monotonic() < deadline, "the second worker never started"
            time.sleep(0.1)
        add_version(store, 2)
        process.send_signal(signal.SIGHUP)
        versions, statuses, ready = [], [], []
        promotions = 0.0
        deadline = time.monotonic() + 90
        # A new connection per request, so the kernel hands them to whichever worker accepts.
        while time.monotonic() < deadline and not (versions[-30:] == [2] * 30 and promotions == 2):
            answer = httpx.post(f"{base}/v1/models/{MODEL}/predict", json=BODY, timeout=10)
            statuses.append(answer.status_code)
            versions.append(answer.json().get("version"))
            ready.append(httpx.get(f"{base}/health/ready", timeout=10).status_code)
            promotions = promotions_of(httpx.get(f"{base}/metrics", timeout=10).text, "sighup", 1, 2)
    assert promotions == 2  # one in each worker
    assert versions[-30:] == [2] * 30, versions[-40:]
    assert set(statuses) == {200} and set(ready) == {200}
    assert process.returncode == 0  # the supervisor kept running: it forwarded the signal, restarted nothing


def promotions_of(metrics: str, reason: str, old: object, new: object) -> float:
    pattern = rf'tinyserve_model_transitions_total{{from="{old}",model="{MODEL}",reason="{reason}",to="{new}"}} (\S+)'
    found = re.search(pattern, metrics)
    return float(found.group(1)) if found else 0.0


@pytest.mark.asyncio
async def test_a_reload_over_loopback_under_load_fails_no_request(tmp_path: Path) -> None:
    """2,000 requests at c=16 over TCP to a real server while the admin route rolls version 2 out: none
    fails, and every request sent after the admin call answered is answered by version 2."""
    store = tmp_path / "store"
    add_version(store, 1)
    environment = {
        "TINYSERVE_MODEL_STORE": str(store),
        "TINYSERVE_MODELS": MODEL,
        "TINYSERVE_AUTOTUNE": "false",
        "TINYSERVE_ADMIN_KEYS": "admin-secret",
    }
    with running_server(**environment) as (base, _):
        answers: list[tuple[float, int, int | None]] = []  # (sent at, status, version)
        promoted_at: list[float] = []
        sent = 0
        limits = httpx.Limits(max_connections=CONCURRENCY + 1)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:

            async def client_loop() -> None:
                nonlocal sent
                while sent < 2000:
                    sent += 1
                    if sent == 300:
                        add_version(store, 2)
                        asyncio.get_running_loop().create_task(promote())
                    started = time.monotonic()
                    body = SLOW_BODY if sent % 2 else BODY
                    response = await client.post(f"/v1/models/{MODEL}/predict", json=body)
                    version = response.json().get("version") if response.status_code == 200 else None
                    answers.append((started, response.status_code, version))

            async def promote() -> None:
                response = await client.post(
                    f"/v1/admin/models/{MODEL}/reload", headers={"x-admin-key": "admin-secret"}
                )
                assert response.status_code == 200 and response.json()["outcome"] == "promoted", response.text
                promoted_at.append(time.monotonic())

            await asyncio.gather(*(client_loop() for _ in range(CONCURRENCY)))
            listed = (await client.get(f"/v1/models/{MODEL}")).json()
    assert len(answers) == 2000 and {status for _, status, _ in answers} == {200}
    assert promoted_at, "the admin reload never answered"
    assert {version for _, _, version in answers} == {1, 2}
    assert all(version == 2 for started, _, version in answers if started > promoted_at[0])
    assert listed["version"] == 2 and [v["version"] for v in listed["loaded_versions"]] == [2]
