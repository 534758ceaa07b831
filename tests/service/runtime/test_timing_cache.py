"""Kernel-timing decisions kept across starts (TINYSERVE_TIMING_CACHE_DIR)."""

import json
from pathlib import Path

import pytest

from tests.service.conftest import TEST_DEVICE, make_settings, running_app

pytestmark = pytest.mark.asyncio

MODEL = "digits-cnn"


async def test_a_second_start_takes_the_timing_decisions_from_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "timing"
    settings = make_settings(models=[MODEL], timing_cache_dir=cache, autotune=True)
    async with running_app(settings) as (_, client):
        timed = (await client.get(f"/v1/models/{MODEL}")).json()
    files = list(cache.glob(f"{MODEL}-1-*-{TEST_DEVICE}-*.json"))
    assert len(files) == 1, list(cache.iterdir())
    decisions = json.loads(files[0].read_text())
    assert timed["onednn_from_batch"] in decisions.values()

    # A decision timing would hardly make: the next start must use it, not time again.
    planted = dict.fromkeys(decisions, 64)
    files[0].write_text(json.dumps(planted))
    async with running_app(settings) as (_, client):
        cached = (await client.get(f"/v1/models/{MODEL}")).json()
        answer = await client.post(f"/v1/models/{MODEL}/predict", json={"images": [{"pixels": [[0] * 28] * 28}]})
    if TEST_DEVICE == "cpu":
        assert cached["onednn_from_batch"] == 64
    assert answer.status_code == 200
    assert json.loads(files[0].read_text()) == planted  # read, not rewritten


async def test_a_damaged_cache_file_is_timed_again(tmp_path: Path) -> None:
    cache = tmp_path / "timing"
    settings = make_settings(models=[MODEL], timing_cache_dir=cache, autotune=True)
    async with running_app(settings):
        pass
    (path,) = cache.glob("*.json")
    path.write_text('{"pixels": "../../etc/passwd"}')
    async with running_app(settings) as (_, client):
        answer = await client.post(f"/v1/models/{MODEL}/predict", json={"images": [{"pixels": [[0] * 28] * 28}]})
    assert answer.status_code == 200
    assert all(v is None or isinstance(v, int) for v in json.loads(path.read_text()).values())
