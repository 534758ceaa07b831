"""Each documented setting changes what the served app does, through HTTP: pinned versions,
default models, size and count limits, torch threads, log level, the access log, and readiness
while models load. Every test uses a non-default value, so a setting that is ignored fails it."""

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from PIL import Image

from artifacts import ModelStore
from service.app import create_app
from service.logs import JSONFormatter, configure_logging
from service.tasks.image_classification import ONEDNN_PROBES
from tests.paths import MODELS_STORE
from tests.service.api.v2.wire import json_body
from tests.service.conftest import b64, make_settings, png_bytes, running_app, wait_until

pytestmark = pytest.mark.asyncio

NAMES = {"names": ["Nakamura"]}


def add_version(store: Path, source: str, name: str, version: int, **manifest: Any) -> Path:
    """Copy the committed ``source``/1 to ``store/name/version`` with manifest fields changed
    (the manifest is not under the sha256 check: only the weights and golden files are)."""
    folder = store / name / str(version)
    shutil.copytree(MODELS_STORE / source / "1", folder, ignore=shutil.ignore_patterns("*.png"))
    path = folder / "manifest.json"
    values = json.loads(path.read_text())
    values.update(name=name, version=version)
    for key, value in manifest.items():
        values[key] = value if not isinstance(value, dict) else {**values[key], **value}
    path.write_text(json.dumps(values))
    return folder


def ink_png(width: int, height: int) -> bytes:
    """A black square on white: an image the digits models accept, ``width`` x ``height`` pixels."""
    image = Image.new("L", (width, height), 255)
    image.paste(0, (width // 3, height // 3, 2 * width // 3, 2 * height // 3))
    return png_bytes(image)


async def chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def grid() -> list[list[int]]:
    return [[0] * 28 for _ in range(28)]


# ---- versions and default models ----


async def test_a_pinned_version_is_served_though_a_newer_one_exists(tmp_path: Path) -> None:
    store = tmp_path / "store"
    add_version(store, "names-gru", "names-gru", 1)
    add_version(store, "names-gru", "names-gru", 2)
    unpinned = make_settings(model_store=store, models=["names-gru"], autotune=False)
    async with running_app(unpinned) as (_, client):
        newest = await client.post("/v1/names/predict", json=NAMES)
    assert newest.status_code == 200 and newest.json()["version"] == 2  # the copy is a servable version 2

    pinned = make_settings(model_store=store, models=["names-gru:1"], autotune=False)
    async with running_app(pinned) as (_, client):
        answer = await client.post("/v1/names/predict", json=NAMES)
        described = await client.get("/v1/models/names-gru")
        v2_pinned = await client.get("/v2/models/names-gru/versions/1")
        v2_unloaded = await client.get("/v2/models/names-gru/versions/2")
        v2_unloaded_infer = await client.post(
            "/v2/models/names-gru/versions/2/infer", json=json_body([("names", "BYTES", [1], ["Nakamura"])])
        )
        v2_missing = await client.get("/v2/models/names-gru/versions/3")
    assert answer.status_code == 200, answer.text
    assert answer.json()["version"] == 1 and answer.json()["predictions"][0]["country"] == "Japanese"
    assert described.status_code == 200 and described.json()["version"] == 1
    assert v2_pinned.status_code == 200 and v2_pinned.json()["versions"] == ["1"]
    not_loaded = (
        "version 2 of model 'names-gru' is not loaded; this server serves version 1 "
        "(serve it with TINYSERVE_MODELS=names-gru:2)"
    )
    assert (v2_unloaded.status_code, v2_unloaded.json()) == (404, {"error": not_loaded})
    assert (v2_unloaded_infer.status_code, v2_unloaded_infer.json()) == (404, {"error": not_loaded})
    assert v2_missing.status_code == 404
    assert v2_missing.json() == {"error": "model 'names-gru' has no version '3'; versions in the store: 1, 2"}


async def test_the_configured_default_models_answer_the_aliases(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for digits in ("digits-mlp", "digits-resnet"):
        add_version(store, digits, digits, 1)
    add_version(store, "names-gru", "names-gru", 1)
    add_version(store, "names-gru", "names-other", 1, metrics={"test_accuracy": 50.0})
    accuracy = {
        name: ModelStore(store).load(name).manifest.metrics.test_accuracy for name in ("digits-mlp", "digits-resnet")
    }
    assert accuracy["digits-mlp"] < accuracy["digits-resnet"]  # so the defaults below are not the most accurate
    settings = make_settings(
        model_store=store, default_digits_model="digits-mlp", default_names_model="names-other", autotune=False
    )
    async with running_app(settings) as (_, client):
        digits = await client.post("/v1/digits/predict", json={"images": [{"pixels": grid()}]})
        upload = await client.post("/v1/digits/predict/upload", files={"files": ("a.png", ink_png(28, 28))})
        names = await client.post("/v1/names/predict", json=NAMES)
        asked = await client.post("/v1/names/predict", json={**NAMES, "model": "names-gru"})
    assert (digits.status_code, digits.json()["model"]) == (200, "digits-mlp")
    assert (upload.status_code, upload.json()["model"]) == (200, "digits-mlp")
    assert (names.status_code, names.json()["model"]) == (200, "names-other")
    assert (asked.status_code, asked.json()["model"]) == (200, "names-gru")  # the request's choice still wins


# ---- limits ----


async def test_the_image_pixel_limit_is_the_configured_one() -> None:
    settings = make_settings(models=["digits-cnn"], max_image_pixels=64 * 64, autotune=False)
    async with running_app(settings) as (_, client):
        at_limit = await client.post("/v1/digits/predict", json={"images": [{"image_base64": b64(ink_png(64, 64))}]})
        over = await client.post("/v1/digits/predict", json={"images": [{"image_base64": b64(ink_png(65, 64))}]})
        upload = await client.post("/v1/digits/predict/upload", files={"files": ("a.png", ink_png(64, 65))})
    assert at_limit.status_code == 200, at_limit.text
    for response in (over, upload):
        assert response.status_code == 413, response.text
        assert response.json()["error"]["type"] == "payload_too_large"
        assert "at most 4096 pixels" in response.json()["error"]["message"]


async def test_the_item_count_limits_are_the_configured_ones() -> None:
    settings = make_settings(models=["digits-cnn", "names-gru"], max_images=2, max_names=2, autotune=False)
    async with running_app(settings) as (_, client):
        two_images = await client.post("/v1/digits/predict", json={"images": [{"pixels": grid()}] * 2})
        three_images = await client.post("/v1/digits/predict", json={"images": [{"pixels": grid()}] * 3})
        three_files = await client.post(
            "/v1/digits/predict/upload", files=[("files", (f"{i}.png", ink_png(28, 28))) for i in range(3)]
        )
        two_names = await client.post("/v1/names/predict", json={"names": ["Rossi", "Smith"]})
        three_names = await client.post("/v1/names/predict", json={"names": ["Rossi", "Smith", "Li"]})
        v2_three = await client.post(
            "/v2/models/digits-cnn/infer", json=json_body([("images", "UINT8", [3, 28, 28], [0] * 3 * 784)])
        )
    assert two_images.status_code == 200 and len(two_images.json()["predictions"]) == 2
    assert two_names.status_code == 200 and len(two_names.json()["predictions"]) == 2
    for response, message in (
        (three_images, "3 images sent; at most 2 per request"),
        (three_files, "3 images sent; at most 2 per request"),
        (three_names, "3 names sent; at most 2 per request"),
    ):
        assert response.status_code == 422, response.text
        assert message in response.json()["error"]["message"]
    assert v2_three.status_code == 400
    assert v2_three.json() == {"error": "input 'images': batch of 3; send 1 to 2 items per request"}


async def test_the_body_limit_is_the_configured_one() -> None:
    settings = make_settings(models=["names-gru"], max_body_bytes=2048, autotune=False)
    padding = " " * 2000
    async with running_app(settings) as (_, client):
        under = await client.post(
            "/v1/names/predict", content=json.dumps(NAMES) + padding, headers={"content-type": "application/json"}
        )
        over = await client.post(
            "/v1/names/predict", content=json.dumps(NAMES) + padding * 2, headers={"content-type": "application/json"}
        )
        streamed = await client.post(  # chunked, no Content-Length: counted as it arrives
            "/v1/names/predict",
            content=chunks([json.dumps(NAMES).encode(), padding.encode() * 2]),
            headers={"content-type": "application/json"},
        )
    assert under.status_code == 200 and under.json()["predictions"][0]["country"] == "Japanese"
    size = len(json.dumps(NAMES) + padding * 2)
    for response, message in (
        (over, f"request body of {size} bytes is over the 2048 byte limit"),  # from Content-Length, unread
        (streamed, "request body is over the 2048 byte limit"),  # counted as it arrives
    ):
        assert response.status_code == 413, response.text
        assert response.json()["error"]["type"] == "payload_too_large"
        assert response.json()["error"]["message"] == message


async def test_65_uploaded_files_are_refused(client: httpx.AsyncClient) -> None:
    files = [("files", (f"{i}.png", ink_png(28, 28))) for i in range(65)]
    response = await client.post("/v1/digits/predict/upload", files=files)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["type"] == "validation_error"
    assert "65 images sent; at most 64 per request" in response.json()["error"]["message"]


# ---- process settings: threads, log level, access log ----


async def test_torch_threads_is_the_configured_number() -> None:
    before = torch.get_num_threads()
    try:
        async with running_app(make_settings(models=["names-gru"], torch_threads=3, autotune=False)):
            during = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert during == 3


@pytest.mark.parametrize(("level", "info", "debug"), [("warning", False, False), ("debug", True, True)])
async def test_the_log_level_is_the_configured_one(level: str, info: bool, debug: bool) -> None:
    try:
        create_app(make_settings(log_level=level))
        for name in ("tinyserve", "tinyserve.registry", "tinyserve.access"):
            assert logging.getLogger(name).isEnabledFor(logging.INFO) is info
            assert logging.getLogger(name).isEnabledFor(logging.DEBUG) is debug
        assert logging.getLogger("tinyserve").isEnabledFor(logging.WARNING)
    finally:
        configure_logging("info")


@pytest.mark.parametrize("enabled", [True, False])
async def test_the_access_log_is_written_only_when_enabled(caplog: pytest.LogCaptureFixture, enabled: bool) -> None:
    access = logging.getLogger("tinyserve.access")
    access.addHandler(caplog.handler)  # the service's loggers do not propagate to the root
    try:
        settings = make_settings(models=["names-gru"], access_log=enabled, autotune=False)
        async with running_app(settings) as (_, client):
            response = await client.post("/v1/names/predict", json=NAMES, headers={"X-Request-ID": "acc-1"})
    finally:
        access.removeHandler(caplog.handler)
    assert response.status_code == 200 and response.json()["predictions"][0]["country"] == "Japanese"
    lines = [json.loads(JSONFormatter().format(record)) for record in caplog.records if record.name == access.name]
    ids = [line["request_id"] for line in lines]
    assert ("acc-1" in ids) is enabled, ids


# ---- readiness while the models load ----


@contextmanager
def held_manifest(folder: Path) -> Iterator[Callable[[], None]]:
    """Replace ``folder``'s manifest.json with a named pipe, so loading blocks on reading it; yields
    ``release``, which writes the manifest into the pipe (called at the latest when the block ends)."""
    manifest = folder / "manifest.json"
    content = manifest.read_bytes()
    manifest.unlink()
    os.mkfifo(manifest)
    writer = threading.Thread(target=feed_when_read, args=(manifest, content), daemon=True)

    def release() -> None:
        if not writer.is_alive() and writer.ident is None:
            writer.start()

    try:
        yield release
    finally:
        release()
        writer.join(30)
        assert not writer.is_alive(), "the model never read its manifest"


def feed_when_read(pipe: Path, content: bytes) -> None:
    deadline = time.monotonic() + 30
    while True:  # O_NONBLOCK: fails until the reader has opened the pipe
        try:
            descriptor = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
    os.set_blocking(descriptor, True)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)


async def test_ready_and_predictions_are_503_while_models_load(tmp_path: Path) -> None:
    store = tmp_path / "store"
    folder = add_version(store, "names-gru", "names-gru", 1)
    settings = make_settings(model_store=store, models=["names-gru"], autotune=False)
    with held_manifest(folder) as release:
        async with running_app(settings, wait_optimised=False) as (app, client):
            ready = await client.get("/health/ready")
            v2_ready = await client.get("/v2/health/ready")
            v2_model_ready = await client.get("/v2/models/names-gru/ready")
            v2_infer = await client.post(
                "/v2/models/names-gru/infer", json=json_body([("names", "BYTES", [1], ["Nakamura"])])
            )
            alias = await client.post("/v1/names/predict", json=NAMES)
            generic = await client.post("/v1/models/names-gru/predict", json=NAMES)
            live = await client.get("/health/live")
            release()
            await wait_until(app.state.registry.loaded.is_set, 30, "the model never loaded")
            ready_after = await client.get("/health/ready")
            answer_after = await client.post("/v1/names/predict", json=NAMES)
    assert ready.status_code == 503, ready.text
    assert ready.json() == {"status": "not_ready", "models": {"names-gru": "loading"}, "optimised": False}
    assert (v2_ready.status_code, v2_ready.json()) == (400, {"ready": False})  # V2 says 400, not 503
    assert (v2_model_ready.status_code, v2_model_ready.json()) == (400, {"name": "names-gru", "ready": False})
    assert v2_infer.status_code == 503 and v2_infer.json() == {"error": "model 'names-gru' is loading"}
    for response in (alias, generic):
        assert response.status_code == 503, response.text
        assert response.json()["error"]["type"] == "model_not_ready"
    assert live.status_code == 200
    assert ready_after.status_code == 200 and ready_after.json()["models"] == {"names-gru": "ready"}
    assert answer_after.status_code == 200 and answer_after.json()["predictions"][0]["country"] == "Japanese"


async def test_ready_waits_for_traced_graphs_and_kernel_timing_follows() -> None:
    """TINYSERVE_READY_AFTER_OPTIMISE (the default): no request after ready meets tracing; the kernels
    are timed after ready, moving only the batch size from which oneDNN takes over."""
    settings = make_settings(models=["digits-cnn"], autotune=True)
    assert settings.ready_after_optimise
    async with running_app(settings, wait_optimised=False) as (app, client):
        await wait_until(app.state.registry.loaded.is_set, 60, "the model never became ready")
        at_ready = (await client.get("/v1/models/digits-cnn")).json()
        await wait_until(app.state.registry.optimised.is_set, 60, "the kernels were never timed")
        ready = await client.get("/health/ready")
        timed = (await client.get("/v1/models/digits-cnn")).json()
    assert at_ready["graph"] == "traced"
    assert ready.status_code == 200 and ready.json()["optimised"] is True
    assert timed["graph"] == "traced" and timed["onednn_from_batch"] in {None, *ONEDNN_PROBES}
