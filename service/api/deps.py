"""Dependencies as Annotated aliases, so route signatures read like sentences."""

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from service.api.errors import UnauthorizedError
from service.runtime.registry import ModelRegistry
from service.settings import Settings


# Dependencies are async: FastAPI runs a plain `def` dependency in its thread pool, a
# thread hop per dependency per request.
async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return request.headers.get("x-api-key")


def require_api_key(request: Request, settings: SettingsDep) -> None:
    """When API keys are configured, accept ``Authorization: Bearer <key>`` or ``X-API-Key``."""
    if not settings.api_keys:
        return
    presented = _presented_key(request)
    if presented is None:
        raise UnauthorizedError("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    candidate = presented.encode()
    # compare_digest against every key, so timing says nothing about which or how much matched.
    matches = [hmac.compare_digest(candidate, key.get_secret_value().encode()) for key in settings.api_keys]
    if not any(matches):
        raise UnauthorizedError("invalid API key")


async def api_key_dependency(request: Request, settings: SettingsDep) -> None:
    require_api_key(request, settings)


def request_context(request: Request) -> tuple[ModelRegistry, Settings]:
    """What a prediction route needs, without FastAPI's dependency solving: app state and the API-key check."""
    settings: Settings = request.app.state.settings
    require_api_key(request, settings)
    return request.app.state.registry, settings


def v1_router(tag: str) -> APIRouter:
    """A router for /v1 routes: API keys are checked on every one of them.

    The prefix is given here, not at include time, so each route's own path (which the
    metrics and access log use as the route label) is the full path.
    """
    return APIRouter(prefix="/v1", tags=[tag], dependencies=[Depends(api_key_dependency)])
