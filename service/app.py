"""The app factory. Models load in the lifespan; nothing happens at import time."""

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import torch
from fastapi import FastAPI
from starlette.types import ASGIApp

from artifacts import ModelStore
from service import __version__, tracing
from service.affinity import pin_this_worker
from service.api import admin, health, models, playground, predict
from service.api.errors import install_error_handlers
from service.api.middleware import RequestContextMiddleware
from service.api.routing import ServingApp, install_openapi
from service.api.v2 import routes as v2
from service.connections import OPEN_CONNECTIONS
from service.logs import configure_logging
from service.runtime.registry import BatchingConfig, ModelRegistry
from service.runtime.triggers import Reloader
from service.settings import Settings, get_settings

logger = logging.getLogger("tinyserve.app")

DESCRIPTION = """Fast, safe REST serving for small PyTorch models: every model through
`POST /v1/models/{name}/predict`, the task aliases `/v1/digits/predict` and `/v1/names/predict`,
and the Open Inference Protocol (V2) under `/v2`. Errors are `{"error": {"type", "message", "request_id"}}`."""


def resolve_device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"TINYSERVE_DEVICE={spec} but torch sees no CUDA device; use auto or cpu")
    return torch.device(spec)


def build_registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry(
        store=ModelStore(settings.model_store),
        selection=settings.model_versions(),
        device=resolve_device(settings.device),
        batching=BatchingConfig(
            max_batch_size=settings.max_batch_size,
            max_batch_delay_s=settings.max_batch_delay_ms / 1000,
            max_queue_size=settings.max_queue_size,
            timeout_s=settings.request_timeout_s,
        ),
        settings=settings,
        run_inline_when=OPEN_CONNECTIONS.serving_one_client,
    )


async def _load_models(registry: ModelRegistry) -> None:
    if not registry.loaded.is_set():  # several workers: the lifespan has loaded them already
        await _start_models(registry)
    await asyncio.to_thread(registry.optimise_all)
    # Collected before ready already where ready waits for the graphs: a full collection stalls requests.
    _freeze_heap(collect=not registry.settings.ready_after_optimise)


def _freeze_heap(collect: bool) -> None:
    """Everything loaded so far lives as long as the process: keep the collector off it, or full
    collections over the torch and FastAPI heap stall requests."""
    if collect:
        gc.collect()
    gc.freeze()


async def _start_models(registry: ModelRegistry) -> None:
    """Load every model; ready from the end of this. With ready_after_optimise (the default) the graphs are
    traced and verified first, so the first requests after ready do not meet tracing; timing the
    kernels (which only moves where a batch switches graph) follows in the background."""
    announce = not registry.settings.ready_after_optimise
    await asyncio.to_thread(registry.load_all, announce)
    if not announce:
        await asyncio.to_thread(registry.optimise_all, False)
        _freeze_heap(collect=True)
        registry.loaded.set()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if settings.opentelemetry:
        tracing.configure(True)
    pin_this_worker(settings.cpu_affinity, settings.workers, settings.torch_threads)  # before any thread starts
    torch.set_num_threads(settings.torch_threads)
    registry = build_registry(settings)
    app.state.registry = registry
    reloader = app.state.reloader = Reloader(registry)
    # Before loading: SIGHUP's default action ends the process, and with several workers the supervisor
    # forwards it to a worker that may still be loading.
    sighup = app.state.sighup = reloader.install_sighup()
    if settings.workers > 1:
        # Workers share one listening socket and each accepts only once its lifespan has started:
        # loading first keeps requests away from a worker that would answer 503 while another says ready.
        await _start_models(registry)
    loading = asyncio.create_task(_load_models(registry))  # one worker: /health/ready says "loading" meanwhile
    polling = None
    if settings.store_poll_s:
        polling = asyncio.create_task(_poll_after(loading, reloader, settings.store_poll_s))
    try:
        yield
    finally:
        if polling is not None:
            polling.cancel()
        if sighup:
            reloader.remove_sighup()
        await reloader.close()
        await loading
        registry.close()
        if settings.opentelemetry:
            tracing.shutdown()


async def _poll_after(loading: "asyncio.Task[None]", reloader: Reloader, interval_s: float) -> None:
    await asyncio.shield(loading)
    await reloader.poll(interval_s)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    app = ServingApp(
        title="tinyserve",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # Traces come from service/tracing.py, spans along the whole request path; FastAPI's own would
        # look for providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    install_error_handlers(app)

    def middleware(router: ASGIApp) -> ASGIApp:
        """What every HTTP request passes through: request id, limits, metrics, access log; then tracing."""
        front: ASGIApp = RequestContextMiddleware(
            router, max_body_bytes=settings.max_body_bytes, access_log=settings.access_log
        )
        if settings.opentelemetry:  # outside the request context, so the access log line carries the span's ids
            front = tracing.TracingMiddleware(front)
        return front

    app.serve_predictions([*predict.routes(), *v2.infer_routes()], middleware)
    for module in (health, models):
        app.include_router(module.router)
    if settings.admin_keys:  # without an admin key the admin routes do not exist (404)
        app.include_router(admin.router)
    app.include_router(v2.router)
    app.include_router(playground.router)
    install_openapi(app)
    return app
