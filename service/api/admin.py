"""Admin routes: roll a model to another version, unload one. Mounted only when TINYSERVE_ADMIN_KEYS is
set (else 404), and opened only by an admin key: a /v1 API key is never one.

The version comes in as an integer and is looked up in the configured store only: no path or URL
from a request ever reaches the loader.
"""

import hmac
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from service.api.deps import RegistryDep, SettingsDep
from service.api.errors import UnauthorizedError, error_response, request_id_of
from service.api.responses import JSONBytesResponse
from service.api.schemas import ErrorResponse
from service.runtime.errors import ModelNotFoundError
from service.runtime.lifecycle import Transition, VersionRefusedError
from service.runtime.registry import ModelRegistry, ServedModel, valid_name
from service.runtime.triggers import Reloader

MAX_VERSION = 999_999_999


def require_admin_key(request: Request, settings: SettingsDep) -> None:
    """``Authorization: Bearer <admin key>`` or ``X-Admin-Key``, compared with every admin key."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    presented = token.strip() if scheme.lower() == "bearer" and token else request.headers.get("x-admin-key")
    if not presented:
        raise UnauthorizedError("missing admin key: send 'Authorization: Bearer <admin key>' or 'X-Admin-Key'")
    candidate = presented.encode()
    matches = [hmac.compare_digest(candidate, key.get_secret_value().encode()) for key in settings.admin_keys]
    if not any(matches):
        raise UnauthorizedError("invalid admin key")


async def admin_key_dependency(request: Request, settings: SettingsDep) -> None:
    require_admin_key(request, settings)


router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(admin_key_dependency)])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing or invalid admin key"},
    404: {"model": ErrorResponse, "description": "unknown model"},
    409: {"model": ErrorResponse, "description": "the version was refused (integrity, golden check, labels...)"},
}


Outcome = Literal["promoted", "unchanged", "unloaded"]


class TransitionResponse(BaseModel):
    model: str
    from_version: int | None = Field(description="The current version before.")
    to_version: int | None = Field(description="The current version after (unload: what is current now).")
    outcome: Outcome
    reason: str
    detail: str = ""


def _served(registry: ModelRegistry, name: str) -> ServedModel:
    if not valid_name(name):
        raise ModelNotFoundError(f"invalid model name {name[:64]!r}")
    return registry.get(name)


def _reloader(request: Request) -> Reloader:
    reloader: Reloader = request.app.state.reloader
    return reloader


def _answer(transition: Transition) -> JSONBytesResponse:
    body = TransitionResponse(
        model=transition.model,
        from_version=transition.from_version,
        to_version=transition.to_version,
        outcome=cast(Outcome, transition.outcome),  # refusals raise instead
        reason=transition.reason,
        detail=transition.detail,
    )
    return JSONBytesResponse(body.model_dump())


def _refused(request: Request, exc: VersionRefusedError) -> JSONBytesResponse:
    return error_response(409, "version_refused", str(exc), request_id_of(request))


Version = Annotated[int, Query(ge=1, le=MAX_VERSION, description="A version number in the model store.")]


@router.post(
    "/models/{name}/reload",
    response_model=TransitionResponse,
    summary="Load a version beside the current one, verify and optimise it, then make it current",
    responses=ERRORS,
)
async def reload_model(
    name: str, request: Request, registry: RegistryDep, version: Version | None = None
) -> JSONBytesResponse:
    served = _served(registry, name)
    try:
        return _answer(await _reloader(request).reload(served, "admin", version))
    except VersionRefusedError as exc:
        return _refused(request, exc)


@router.post(
    "/models/{name}/unload",
    response_model=TransitionResponse,
    summary="Drain a loaded version and return its memory",
    responses=ERRORS,
)
async def unload_model(name: str, version: Version, request: Request, registry: RegistryDep) -> JSONBytesResponse:
    served = _served(registry, name)
    try:
        return _answer(await _reloader(request).unload(served, version, "admin"))
    except VersionRefusedError as exc:
        return _refused(request, exc)
