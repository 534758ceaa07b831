"""Prediction routes: one router of their own, registered once, described in the OpenAPI document.

The prediction endpoints read and validate the raw body themselves (one pydantic-core pass, or a
task's fast parser): on a model this small, FastAPI's per-request machinery (its routing loop,
middleware layers, dependency solving) costs as much as the forward pass. ``ServingApp`` is FastAPI
with a front of its own for HTTP: the request-context middleware (request ids, body limits,
metrics, the access log), then ``PredictionRouter``, the only router of these paths, which sends
each request straight to its ``PredictRoute`` and answers errors with the app's own exception
handlers (so both routers share one error table). Every other request goes on to FastAPI.
``install_openapi`` documents every route from the same objects.
"""

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.schemas import ErrorResponse

REF = "#/components/schemas/{model}"
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Operation:
    """What the OpenAPI document says of one POST path."""

    summary: str
    tag: str
    request_models: tuple[type[BaseModel], ...] = ()  # a JSON body: one of these
    examples: dict[str, Any] = field(default_factory=dict)
    request_body: dict[str, Any] | None = None  # any other body, as an OpenAPI requestBody
    parameters: list[dict[str, Any]] = field(default_factory=list)
    response_models: tuple[type[BaseModel], ...] = ()
    errors: dict[int, str] = field(default_factory=dict)
    error_model: type[BaseModel] = ErrorResponse
    description: str = ""

    def document(self, path_parameters: Iterable[str]) -> dict[str, Any]:
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "title": name.title()}}
            for name in path_parameters
        ]
        operation: dict[str, Any] = {"tags": [self.tag], "summary": self.summary, "parameters": parameters}
        operation["parameters"] += self.parameters
        if self.description:
            operation["description"] = self.description
        if self.request_models:
            content = {"schema": one_of(self.request_models), "examples": self.examples}
            operation["requestBody"] = {"required": True, "content": {"application/json": content}}
        elif self.request_body is not None:
            operation["requestBody"] = self.request_body
        ok: dict[str, Any] = {"description": "Successful Response"}
        if self.response_models:
            ok["content"] = {"application/json": {"schema": one_of(self.response_models)}}
        operation["responses"] = {"200": ok} | {
            str(status): {
                "description": text,
                "content": {"application/json": {"schema": {"$ref": REF.format(model=self.error_model.__name__)}}},
            }
            for status, text in sorted(self.errors.items())
        }
        return operation

    def models(self) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
        pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = [(self.error_model, "serialization")]
        pairs += [(model, "validation") for model in self.request_models]
        pairs += [(model, "serialization") for model in self.response_models]
        return pairs


def one_of(models: tuple[type[BaseModel], ...]) -> dict[str, Any]:
    refs = [{"$ref": REF.format(model=model.__name__)} for model in models]
    return refs[0] if len(refs) == 1 else {"oneOf": refs}


class PredictRoute(Route):
    """A POST route whose endpoint takes the request alone, with the operation that documents it.

    ``other_methods``: what a GET (or any other method) on the path gets: a 405, or, with "app", the
    app's own routes (V2 answers unknown routes in its own error shape)."""

    def __init__(
        self, path: str, endpoint: Endpoint, operation: Operation, other_methods: Literal["405", "app"] = "405"
    ) -> None:
        super().__init__(path, endpoint, methods=["POST"], name=endpoint.__name__)
        self.operation = operation
        self.other_methods = other_methods


Handler = Callable[[Request, Exception], Awaitable[Response]]


class PredictionRouter:
    """Pure ASGI: requests on a prediction path go to their route, every other request to the app."""

    def __init__(self, app: ASGIApp, routes: Sequence[PredictRoute], handlers: Mapping[Any, Any]) -> None:
        self.app = app
        self.routes = list(routes)
        self.handlers = handlers  # the app's exception handlers: the same table answers errors here
        # Fixed paths by dict lookup; the few with parameters (model names, versions) by Starlette's matching.
        self.fixed = {route.path: route for route in routes if not route.param_convertors}
        self.parametrised = [route for route in routes if route.param_convertors]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._match(scope) if scope["type"] == "http" else None
        if route is None and scope["type"] == "http" and self._slash_redirect(scope):
            url = URL(scope=scope)
            await RedirectResponse(url.replace(path=url.path.rstrip("/")), 307)(scope, receive, send)
            return
        if route is None or (scope["method"] != "POST" and route.other_methods == "app"):
            await self.app(scope, receive, send)
            return
        scope["route"] = route  # what metrics and the access log label requests by, as FastAPI's routes do
        request = Request(scope, receive, send)
        try:
            if scope["method"] != "POST":
                raise HTTPException(405, headers={"allow": "POST"})
            response = await route.endpoint(request)
        except Exception as exc:
            response = await self._handler(exc)(request, exc)
        await response(scope, receive, send)

    def _match(self, scope: Scope) -> PredictRoute | None:
        route = self.fixed.get(scope["path"])
        if route is not None:
            return route
        for candidate in self.parametrised:
            match, child_scope = candidate.matches(scope)
            if match is not Match.NONE:  # FULL, or PARTIAL: the path with another method
                scope.update(child_scope)
                return candidate
        return None

    def _slash_redirect(self, scope: Scope) -> bool:
        """A prediction path with a trailing slash: redirected to the path, as Starlette's router does."""
        path = scope["path"]
        return path.endswith("/") and path != "/" and self._match({**scope, "path": path.rstrip("/")}) is not None

    def _handler(self, exc: Exception) -> Handler:
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                handler: Handler = self.handlers[cls]
                return handler
        raise exc  # pragma: no cover - install_error_handlers registers Exception itself


class ServingApp(FastAPI):
    """FastAPI whose HTTP requests enter through ``front``: prediction requests never reach FastAPI's
    own middleware layers (server errors, telemetry, body limit), which their router makes redundant."""

    front: ASGIApp | None = None

    def serve_predictions(self, routes: Sequence[PredictRoute], wrap: Callable[[ASGIApp], ASGIApp]) -> None:
        """Put ``PredictionRouter`` for ``routes`` in front of FastAPI, inside the middleware ``wrap`` adds."""
        self.state.predict_routes = list(routes)
        self.front = wrap(PredictionRouter(self.fastapi, routes, self.exception_handlers))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.front is not None:
            scope["app"] = self
            await self.front(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def fastapi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI's own stack: its middleware, routes and exception handlers."""
        await super().__call__(scope, receive, send)


def install_openapi(app: FastAPI) -> None:
    """FastAPI's document for its own routes, with every ``PredictRoute`` added to it."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        predict_routes: list[PredictRoute] = app.state.predict_routes
        paths = schema.setdefault("paths", {})
        for route in predict_routes:
            paths.setdefault(route.path, {})["post"] = route.operation.document(route.param_convertors)
        models = {pair for route in predict_routes for pair in route.operation.models()}
        _, definitions = models_json_schema(sorted(models, key=lambda pair: pair[0].__name__), ref_template=REF)
        schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions.get("$defs", {}))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
