"""Domain exceptions -> HTTP status, in one table, and the one error envelope.

Every error the API returns is ``{"error": {"type", "message", "request_id"}}``,
including FastAPI's own validation errors and Starlette's 404 / 405.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from service.api.responses import JSONBytesResponse
from service.runtime import errors as rt

logger = logging.getLogger("tinyserve.errors")


class UnauthorizedError(rt.RuntimeServiceError):
    """Missing or wrong API key."""


class UnsupportedMediaTypeError(rt.RuntimeServiceError):
    """A multipart body sent to a JSON endpoint."""


ERROR_STATUS: dict[type[Exception], tuple[int, str]] = {
    rt.InvalidInputError: (400, "invalid_input"),
    rt.InvalidJSONError: (400, "invalid_json"),
    UnauthorizedError: (401, "unauthorized"),
    rt.ModelNotFoundError: (404, "model_not_found"),
    rt.InputTooLargeError: (413, "payload_too_large"),
    UnsupportedMediaTypeError: (415, "unsupported_media_type"),
    rt.UnprocessableInputError: (422, "validation_error"),
    rt.ModelNotReadyError: (503, "model_not_ready"),
    rt.OverloadedError: (503, "overloaded"),
    rt.DeadlineExceededError: (504, "deadline_exceeded"),
    rt.InferenceError: (500, "inference_error"),
}

HTTP_TYPES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def error_response(
    status: int, kind: str, message: str, request_id: str | None, headers: Mapping[str, str] | None = None
) -> JSONBytesResponse:
    body = {"error": {"type": kind, "message": message, "request_id": request_id}}
    # X-Request-ID is added by the middleware, on this response as on every other.
    return JSONBytesResponse(body, status_code=status, headers=dict(headers or {}))


def format_validation_errors(errors: Sequence[Mapping[str, Any]], limit: int = 5) -> str:
    """'images[0].pixels[3][5]: Input should be less than or equal to 255; ...'"""
    parts = []
    for error in errors[:limit]:
        loc = [p for p in error.get("loc", ()) if p != "body"]
        path = ""
        for part in loc:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = str(error.get("msg", "invalid value"))
        parts.append(f"{path}: {message}" if path else message)
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(parts) + more


def domain_error_headers(exc: Exception) -> dict[str, str]:
    """Headers that tell a client what to do next; both protocols send them."""
    if isinstance(exc, rt.OverloadedError):
        return {"retry-after": str(exc.retry_after)}
    if isinstance(exc, UnauthorizedError):
        return {"www-authenticate": "Bearer"}
    return {}


async def _domain_error(request: Request, exc: Exception) -> JSONBytesResponse:
    status, kind = next((v for cls, v in ERROR_STATUS.items() if isinstance(exc, cls)), (500, "internal_error"))
    message = str(exc)
    if status == 500:
        message += f"; quote request id {request_id_of(request)} when reporting it"
    return error_response(status, kind, message, request_id_of(request), domain_error_headers(exc))


async def _validation_error(request: Request, exc: Exception) -> JSONBytesResponse:
    assert isinstance(exc, RequestValidationError | ValidationError)
    errors = list(exc.errors())
    return error_response(422, "validation_error", format_validation_errors(errors), request_id_of(request))


async def _http_error(request: Request, exc: Exception) -> JSONBytesResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = HTTP_TYPES.get(exc.status_code, "http_error")
    message = str(exc.detail)
    if exc.status_code == 404:
        message = f"no route {request.url.path}; see /docs for the API"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    return error_response(exc.status_code, kind, message, request_id_of(request), exc.headers)


async def _client_gone(request: Request, exc: Exception) -> JSONBytesResponse:
    # The client closed the connection mid-body (load generators do at the end of a run): not our error.
    logger.debug("client disconnected on %s %s", request.method, request.url.path)
    return error_response(400, "client_disconnected", "the client closed the connection", request_id_of(request))


async def _unexpected_error(request: Request, exc: Exception) -> JSONBytesResponse:
    # The traceback goes to the log, never to the client.
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    rid = request_id_of(request)
    return error_response(500, "internal_error", f"internal error; quote request id {rid}", rid)


Handler = Callable[[Request, Exception], Awaitable[JSONBytesResponse]]

# Most specific first: handler_for() takes the first class the exception is an instance of.
HANDLERS: dict[type[Exception], Handler] = {
    rt.RuntimeServiceError: _domain_error,
    RequestValidationError: _validation_error,
    ValidationError: _validation_error,
    StarletteHTTPException: _http_error,
    ClientDisconnect: _client_gone,
    Exception: _unexpected_error,
}


def handler_for(exc: Exception) -> Handler:
    return next(handler for cls, handler in HANDLERS.items() if isinstance(exc, cls))


def install_error_handlers(app: FastAPI) -> None:
    for cls, handler in HANDLERS.items():
        app.add_exception_handler(cls, handler)
