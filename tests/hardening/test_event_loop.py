"""Images that are small as files but large once decoded: decoded off the event loop, within a
per-request pixel budget, so liveness probes keep answering while such uploads run."""

import asyncio
import statistics
import time

import httpx
import pytest

from tests.hardening.bombs import large_lossless_webp
from tests.servers import running_server
from tests.service.conftest import make_settings, running_app

WEBP = large_lossless_webp()  # a few hundred bytes, 4096 x 4096 pixels once decoded
SIDE_PIXELS = 4096 * 4096


async def test_a_request_over_its_pixel_budget_is_refused_before_decoding() -> None:
    settings = make_settings(models=["digits-cnn"], max_request_pixels=2 * SIDE_PIXELS)
    async with running_app(settings) as (_, client):
        files = [("files", (f"{i}.webp", WEBP, "image/webp")) for i in range(3)]
        response = await client.post("/v1/digits/predict/upload", files=files)
        assert response.status_code == 413, response.text
        assert response.json()["error"]["message"] == (
            f"the images declare {3 * SIDE_PIXELS} pixels in all; at most {2 * SIDE_PIXELS} per request"
        )
        within = await client.post("/v1/digits/predict/upload", files=files[:2])
        assert within.status_code == 400 and "no visible ink" in within.json()["error"]["message"]


@pytest.mark.slow
def test_liveness_answers_while_hostile_uploads_decode() -> None:
    """Three clients keep sending four 4096 x 4096 WebPs each (as many as the default pixel budget
    lets through to the decoder); meanwhile /health/live is probed."""
    with running_server(TINYSERVE_MODELS="digits-cnn") as (base, _):
        asyncio.run(_probe_under_load(base))


async def _probe_under_load(base: str) -> None:
    files = [("files", (f"{i}.webp", WEBP, "image/webp")) for i in range(4)]
    stop = asyncio.Event()
    statuses: list[int] = []

    async def hostile(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            statuses.append((await client.post("/v1/digits/predict/upload", files=files, timeout=30)).status_code)

    async with httpx.AsyncClient(base_url=base) as probe, httpx.AsyncClient(base_url=base) as attacker:
        attackers = [asyncio.create_task(hostile(attacker)) for _ in range(3)]
        await asyncio.sleep(0.5)  # let the first uploads reach the decoder
        latencies = []
        for _ in range(40):
            started = time.perf_counter()
            assert (await probe.get("/health/live", timeout=5)).status_code == 200
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*attackers)
    assert statuses and set(statuses) == {400}  # every upload decoded and refused for having no ink
    p99 = statistics.quantiles(latencies, n=100)[98]
    assert p99 < 0.1, f"/health/live p99 {p99 * 1000:.0f} ms while hostile uploads decoded"
