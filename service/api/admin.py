"""Admin routes: roll a model to another version, unload one. Mounted only when TINYSERVE_ADMIN_KEYS is
set (else 404), and opened only by an admin key: a /v1 API key is never one.

The version comes in as an integer and is looked up in the configured store only: no path or URL
from a request ever reaches the loader.
"""

import hmac
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class TrafficRequest(BaseModel):
    """How the requests that name no version are shared between loaded versions, and which version shadows."""

    model_config = ConfigDict(extra="forbid")

    weights: dict[Annotated[int, Field(ge=1, le=MAX_VERSION)], Annotated[int, Field(ge=0, le=100)]] | None = Field(
        None,
        description="Version -> percent of the requests that name no version; they sum to 100. "
        "null: every such request to the current version.",
        max_length=8,
        examples=[{"1": 90, "2": 10}],
    )
    shadow: int | None = Field(None, ge=1, le=MAX_VERSION, description="A version that gets a copy of the inputs.")
    sticky: bool = Field(False, description="Choose by a hash of X-Request-ID, so one id stays on one version.")

    @model_validator(mode="after")
    def _weights_sum_to_100(self) -> "TrafficRequest":
        if self.weights is not None and sum(self.weights.values()) != 100:
            raise ValueError(f"weights must sum to 100, not {sum(self.weights.values())}")
        return self


class TrafficResponse(BaseModel):
    model: str
    current: int | None
    shares: dict[str, float] = Field(description="Version -> share of the requests that name no version.")
    shadow: int | None
    sticky: bool


@router.post(
    "/models/{name}/traffic",
    response_model=TrafficResponse,
    summary="Split traffic between versions (canary) and choose a shadow; missing versions are loaded first",
    responses={**ERRORS, 422: {"model": ErrorResponse, "description": "not JSON, or weights that do not sum to 100"}},
    # The body is read after the admin key is checked: FastAPI parses a declared body before any dependency.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": TrafficRequest.model_json_schema()}},
        }
    },
)
async def set_traffic(name: str, request: Request, registry: RegistryDep) -> JSONBytesResponse:
    body = TrafficRequest.model_validate_json(await request.body())
    served = _served(registry, name)
    try:
        await _reloader(request).set_traffic(served, body.weights, body.shadow, body.sticky)
    except VersionRefusedError as exc:
        return _refused(request, exc)
    split = served.split
    shares = split.shares if split is not None else ({served.version: 1.0} if served.version is not None else {})
    answer = TrafficResponse(
        model=served.name,
        current=served.version,
        shares={str(version): share for version, share in sorted(shares.items())},
        shadow=served.shadow_version,
        sticky=served.sticky,
    )
    return JSONBytesResponse(answer.model_dump())
