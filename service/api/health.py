"""Liveness, readiness and Prometheus metrics: open even when API keys are set."""

from fastapi import APIRouter, Response

from service import metrics
from service.api.deps import RegistryDep
from service.api.responses import JSONBytesResponse
from service.api.schemas import LiveResponse, ReadyResponse

router = APIRouter(tags=["health"])


# HEAD too, since load balancers often probe with it (left out of the schema: one operation per path).
@router.get("/health/live", response_model=LiveResponse, summary="The process is up")
@router.head("/health/live", include_in_schema=False)
async def live() -> JSONBytesResponse:
    return JSONBytesResponse({"status": "alive"})


@router.head("/health/ready", include_in_schema=False)
@router.get(
    "/health/ready",
    response_model=ReadyResponse,
    summary="Every configured model is loaded and verified",
    responses={503: {"model": ReadyResponse, "description": "a model is loading or failed"}},
)
async def ready(registry: RegistryDep) -> JSONBytesResponse:
    states = {name: served.status.value for name, served in registry.models.items()}
    is_ready = registry.loaded.is_set() and registry.ready
    body = {"status": "ready" if is_ready else "not_ready", "models": states, "optimised": registry.optimised.is_set()}
    return JSONBytesResponse(body, status_code=200 if is_ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def prometheus_metrics() -> Response:
    content, media_type = metrics.render_latest()
    return Response(content, media_type=media_type)
