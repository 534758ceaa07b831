"""Prediction routes: registered once, as plain Starlette routes, and described in the OpenAPI document.

The prediction endpoints read and validate the raw body themselves (one pydantic-core pass, or a
task's fast parser) instead of going through FastAPI's body and dependency machinery, which costs
more than a small model's forward pass. Each is one ``PredictRoute`` in the app's router: Starlette
matches it, the app's exception handlers map its errors, and ``install_openapi`` documents it from
the same object, so /docs shows every path, schema, parameter and worked example.
"""

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

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
    """A POST route whose endpoint takes the request alone, with the operation that documents it."""

    def __init__(self, path: str, endpoint: Endpoint, operation: Operation) -> None:
        super().__init__(path, endpoint, methods=["POST"], name=endpoint.__name__)
        self.operation = operation

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self  # what metrics and the access log label requests by, as FastAPI's routes do
        await super().handle(scope, receive, send)


def add_predict_routes(app: FastAPI, routes: Iterable[PredictRoute]) -> None:
    """First in the router: a prediction is matched without trying every other route before it."""
    app.router.routes[:0] = list(routes)


def install_openapi(app: FastAPI) -> None:
    """FastAPI's document for its own routes, with every ``PredictRoute`` added to it."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        predict_routes = [route for route in app.routes if isinstance(route, PredictRoute)]
        paths = schema.setdefault("paths", {})
        for route in predict_routes:
            paths.setdefault(route.path, {})["post"] = route.operation.document(route.param_convertors)
        models = {pair for route in predict_routes for pair in route.operation.models()}
        _, definitions = models_json_schema(sorted(models, key=lambda pair: pair[0].__name__), ref_template=REF)
        schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions.get("$defs", {}))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
