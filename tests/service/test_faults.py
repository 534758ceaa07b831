"""A broken artifact is reported and skipped; the other models still serve."""

import json
from pathlib import Path

import pytest

from tests.service.conftest import make_settings, running_app

pytestmark = pytest.mark.asyncio


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def break_manifest(path: Path) -> None:
    manifest = json.loads(path.read_text())
    del manifest["labels"]
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("damage", "file", "message"),
    [
        (flip_a_byte, "weights.safetensors", "does not match the manifest"),
        (break_manifest, "manifest.json", "invalid manifest"),
        (Path.unlink, "weights.safetensors", "file is missing"),
    ],
)
async def test_broken_model_is_failed_and_others_serve(
    tmp_store: Path, damage: object, file: str, message: str
) -> None:
    target = tmp_store / "digits-cnn" / "1" / file
    damage(target)  # type: ignore[operator]
    async with running_app(make_settings(model_store=tmp_store)) as (_, client):
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["models"]["digits-cnn"] == "failed"
        assert ready.json()["models"]["names-gru"] == "ready"
        info = (await client.get("/v1/models/digits-cnn")).json()
        assert info["status"] == "failed" and message in info["error"]
        denied = await client.post(
            "/v1/digits/predict", json={"images": [{"pixels": [[0] * 28] * 28}], "model": "digits-cnn"}
        )
        assert denied.status_code == 503
        assert denied.json()["error"]["type"] == "model_not_ready"
        ok = await client.post("/v1/names/predict", json={"names": ["Rossi"]})
        assert ok.status_code == 200 and ok.json()["predictions"][0]["country"] == "Italian"


async def test_a_configured_model_missing_from_the_store_is_failed(tmp_store: Path) -> None:
    async with running_app(make_settings(model_store=tmp_store, models=["names-gru", "ghost"])) as (_, client):
        ready = (await client.get("/health/ready")).json()
        assert ready["models"] == {"names-gru": "ready", "ghost": "failed"}


async def test_pinned_version_is_served(tmp_store: Path) -> None:
    async with running_app(make_settings(model_store=tmp_store, models=["names-gru:1"])) as (_, client):
        info = (await client.get("/v1/models/names-gru")).json()
        assert info["version"] == 1 and info["status"] == "ready"
