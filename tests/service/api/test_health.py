import httpx
import pytest
from fastapi import FastAPI

from service.app import create_app
from tests.service.conftest import TEST_DEVICE, make_settings

pytestmark = pytest.mark.asyncio


async def test_live(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


async def test_ready_lists_every_committed_model(client: httpx.AsyncClient, committed_models: list[str]) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "models": dict.fromkeys(committed_models, "ready"),
        "optimised": True,  # the fixture waits for it
    }


async def test_ready_tells_whether_the_graphs_are_optimised_yet(client: httpx.AsyncClient, app: FastAPI) -> None:
    app.state.registry.optimised.clear()
    try:
        response = await client.get("/health/ready")
    finally:
        app.state.registry.optimised.set()
    assert response.status_code == 200 and response.json()["optimised"] is False


async def test_metrics_exposes_the_documented_families(client: httpx.AsyncClient) -> None:
    await client.post("/v1/names/predict", json={"names": ["Rossi"]})
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for family in (
        "tinyserve_requests_total",
        "tinyserve_request_duration_seconds_bucket",
        "tinyserve_batch_size_bucket",
        "tinyserve_inference_duration_seconds_bucket",
        "tinyserve_queue_depth",
        "tinyserve_items_predicted_total",
        "tinyserve_model_info",
    ):
        assert family in text, family
    assert 'tinyserve_requests_total{method="POST",route="/v1/names/predict",status="200"}' in text
    assert f'tinyserve_model_info{{device="{TEST_DEVICE}",name="names-gru",version="1"}} 1.0' in text


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
async def test_head_probes_work(client: httpx.AsyncClient, path: str) -> None:
    response = await client.head(path)
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("workers", [1, 2])
async def test_start_up_returns_before_loading_only_with_one_worker(workers: int) -> None:
    """One worker answers /health/ready ("loading") while it loads. With several, a worker's start-up (after
    which uvicorn lets it accept connections from the shared socket) ends only once its models are loaded,
    so no request reaches a worker that would answer 503 while another one says ready."""
    app = create_app(make_settings(models=["digits-cnn"], workers=workers))
    async with app.router.lifespan_context(app):
        loaded_at_start = app.state.registry.loaded.is_set()
    assert loaded_at_start is (workers > 1)
