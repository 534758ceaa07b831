"""The Open Inference Protocol's REST routes under /v2: health, metadata, infer.

Thin: HTTP in, the same runtime as /v1 (registry, batcher), HTTP out; what a model takes and
returns is its task's V2 signature. Routes read the raw body themselves, since Triton's client
sends binary bodies without a Content-Type. Every error here is V2's ``{"error": "message"}``,
produced by ``guarded`` (for every route of this router through ``V2Route``, and for the infer
routes directly), so the /v1 envelope handlers never see a V2 error.

Routes take the request alone and call ``request_context`` (app state and the API-key check)
instead of declaring dependencies: FastAPI runs sync dependencies in its thread pool, thread
hops per request that cost more than decoding a binary tensor.
"""

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from service import __version__, tracing
from service.api.deps import request_context
from service.api.errors import UnauthorizedError, domain_error_headers, request_id_of
from service.api.responses import JSONBytesResponse
from service.api.routing import Operation, PredictRoute
from service.api.timing import server_timing
from service.api.v2 import codec
from service.api.v2.schemas import ModelMetadata, ServerMetadata, TensorMetadata
from service.runtime import errors as rt
from service.runtime.registry import (
    ModelRegistry,
    ModelStatus,
    ServedModel,
    as_ready,
    parse_version,
    version_not_loaded,
)
from service.runtime.tensors import TensorSpec

logger = logging.getLogger("tinyserve.v2")

HEADER_LENGTH = "inference-header-content-length"
EXTENSIONS = ["binary_tensor_data", "classification"]
PLATFORM = "pytorch"
ROUTES_HINT = "V2 routes: /v2, /v2/health/live|ready, /v2/models/{name}[/versions/{version}][/ready|/infer]"

ERROR_STATUS: dict[type[Exception], int] = {
    rt.InvalidInputError: 400,
    rt.UnprocessableInputError: 400,  # V2 has no 422: every bad input is a 400
    UnauthorizedError: 401,
    rt.ModelNotFoundError: 404,
    rt.InputTooLargeError: 413,
    rt.ModelNotReadyError: 503,
    rt.OverloadedError: 503,
    rt.DeadlineExceededError: 504,  # as /v1: the request waited past its deadline
    rt.InferenceError: 500,
}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONBytesResponse:
    return JSONBytesResponse({"error": message}, status_code=status, headers=headers)


def _domain_error(request: Request, exc: rt.RuntimeServiceError) -> JSONBytesResponse:
    status = next((code for cls, code in ERROR_STATUS.items() if isinstance(exc, cls)), 500)
    headers = domain_error_headers(exc)
    message = str(exc)
    if status == 500:
        message += f"; quote request id {request_id_of(request)} when reporting it"
    return error_response(status, message, headers)


async def guarded(request: Request, call: Callable[[], Awaitable[Response]]) -> Response:
    """``call()``, with every error it raises answered as ``{"error": "message"}``."""
    try:
        return await call()
    except rt.RuntimeServiceError as exc:
        return _domain_error(request, exc)
    except StarletteHTTPException as exc:  # the body limit, raised while the body is read
        return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))
    except RequestValidationError as exc:
        return error_response(400, f"invalid request: {exc.errors()}")
    except Exception:  # the traceback goes to the log, never to the client
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error; quote request id {request_id_of(request)}")


class V2Route(APIRoute):
    """A route whose errors, its dependencies' included, come back as ``{"error": "message"}``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await guarded(request, lambda: handler(request))

        return handle


router = APIRouter(tags=["v2"], route_class=V2Route)


def _registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


# ---- health (open, like /health) ----


@router.get("/v2/health/live", summary="V2 server liveness")
async def server_live() -> JSONBytesResponse:
    return JSONBytesResponse({"live": True})


@router.get("/v2/health/ready", summary="V2 server readiness: 200 when every model is ready, else 400")
async def server_ready(request: Request) -> JSONBytesResponse:
    registry = _registry(request)
    ready = registry.loaded.is_set() and registry.ready
    return JSONBytesResponse({"ready": ready}, status_code=200 if ready else 400)


@router.get("/v2/models/{name}/ready", summary="V2 model readiness: 200 when ready, else 400")
async def model_ready(name: str, request: Request) -> JSONBytesResponse:
    return _model_ready(*_find(_registry(request), name, None), name)


@router.get("/v2/models/{name}/versions/{version}/ready", summary="V2 model version readiness")
async def model_version_ready(name: str, version: str, request: Request) -> JSONBytesResponse:
    return _model_ready(*_find(_registry(request), name, version), name)


def _model_ready(served: ServedModel, version: int | None, name: str) -> JSONBytesResponse:
    ready = served.status is ModelStatus.READY if version is None else version in served.by_version
    return JSONBytesResponse({"name": name, "ready": ready}, status_code=200 if ready else 400)


# ---- metadata ----


@router.get("/v2", response_model=ServerMetadata, summary="V2 server metadata")
async def server_metadata(request: Request) -> JSONBytesResponse:
    request_context(request)
    body = ServerMetadata(name="tinyserve", version=__version__, extensions=EXTENSIONS)
    return JSONBytesResponse(body.model_dump())


@router.get("/v2/models/{name}", response_model=ModelMetadata, summary="V2 model metadata")
async def model_metadata(name: str, request: Request) -> JSONBytesResponse:
    registry, _ = request_context(request)
    return _metadata(registry, name, None)


@router.get(
    "/v2/models/{name}/versions/{version}",
    response_model=ModelMetadata,
    summary="V2 model version metadata",
)
async def model_version_metadata(name: str, version: str, request: Request) -> JSONBytesResponse:
    registry, _ = request_context(request)
    return _metadata(registry, name, version)


def _metadata(registry: ModelRegistry, name: str, version: str | None) -> JSONBytesResponse:
    served, number = _find(registry, name, version)
    model = as_ready(served, None, number)
    loaded = [model.version] if number is not None else sorted(served.by_version)
    metadata = ModelMetadata(
        name=name,
        versions=[str(v) for v in loaded],
        platform=PLATFORM,
        inputs=[_tensor_metadata(spec) for spec in model.task.v2_inputs()],
        outputs=[_tensor_metadata(spec) for spec in model.task.v2_outputs()],
    )
    return JSONBytesResponse(metadata.model_dump())


def _tensor_metadata(spec: TensorSpec) -> TensorMetadata:
    return TensorMetadata(name=spec.name, datatype=spec.datatype, shape=list(spec.shape))


# ---- inference ----

INFER_PATH, INFER_VERSION_PATH = "/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"
INFER_DESCRIPTION = (
    "A JSON inference request, or (binary tensor data) a JSON header of Inference-Header-Content-Length "
    "bytes followed by raw little-endian tensors. See docs/v2.md."
)
INFER_BODY = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}


async def infer(request: Request) -> Response:
    params = request.path_params
    return await guarded(request, lambda: _infer(request, params["name"], params.get("version")))


async def _infer(request: Request, name: str, version: str | None) -> Response:
    registry, settings = request_context(request)
    served, number = _find(registry, name, version)
    model = as_ready(served, None, number)
    request.state.model = name
    body = await request.body()  # the middleware caps its size
    started = time.perf_counter()
    with tracing.stage("decode", model=name, version=model.version):
        body = codec.decompress(body, request.headers.get("content-encoding"), settings.max_body_bytes)
        decoded = codec.decode_request(body, codec.parse_header_length(request.headers.get(HEADER_LENGTH)))
        requested = model.task.v2_requested(decoded.outputs, decoded.binary_output)
    with tracing.stage("prepare", model=name, version=model.version):
        prepared = await model.task.v2_prepare(decoded.inputs)
    preprocess_s = time.perf_counter() - started
    outputs, timing = await model.batcher.submit(prepared.payload, prepared.size)
    if model.shadow is not None:  # as /v1: the shadow version gets a copy, off this request
        model.shadow.offer(prepared.payload, prepared.size, outputs)
    request.state.batch_size = timing.batch_size
    with tracing.stage("encode", model=name, version=model.version):
        tensors = model.task.v2_encode(requested, prepared, outputs)
        content, header_length = codec.encode_response(name, str(model.version), decoded.id, tensors)
    headers = {"server-timing": server_timing(preprocess_s, timing)}
    if header_length is None:
        return Response(content, media_type="application/json", headers=headers)
    headers[HEADER_LENGTH] = str(header_length)
    return Response(content, media_type="application/octet-stream", headers=headers)


def infer_routes() -> list[PredictRoute]:
    """Both infer paths, registered once each as prediction routes (matched before every other route)."""
    documented = {INFER_PATH: "V2 inference", INFER_VERSION_PATH: "V2 inference on one version"}
    return [
        PredictRoute(
            path,
            infer,
            Operation(summary, "v2", request_body=INFER_BODY, description=INFER_DESCRIPTION),
            other_methods="app",  # V2's catch-all route answers in V2's error shape
        )
        for path, summary in documented.items()
    ]


# ---- models and versions: 404 for unknown ones, 503 for ones not ready ----


def _find(registry: ModelRegistry, name: str, version: str | None) -> tuple[ServedModel, int | None]:
    """The model and, where the path names one, its version: one of the loaded versions, else 404."""
    served = registry.get(name)
    if version is None:
        return served, None
    if not (version.isascii() and version.isdigit()) or int(version) not in served.versions:
        known = ", ".join(map(str, served.versions)) or "none"
        raise rt.ModelNotFoundError(f"model {name!r} has no version {version!r}; versions in the store: {known}")
    number = parse_version(served, version)
    if number not in served.by_version and served.status is not ModelStatus.LOADING:  # loading: 503, not 404
        raise version_not_loaded(served, number)
    return served, number


# ---- last: any other /v2 path is a V2-shaped 404 ----


@router.api_route("/v2/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"], include_in_schema=False)
async def unknown_route(path: str, request: Request) -> JSONBytesResponse:
    return error_response(404, f"no route {request.method} /v2/{path}; {ROUTES_HINT}")
