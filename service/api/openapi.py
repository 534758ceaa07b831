"""OpenAPI for the raw-body prediction routes.

The hot routes read and validate the body themselves (one pydantic-core pass,
no FastAPI body machinery); their request schemas are added to the document
here so /docs still shows every field, constraint and a worked example.
"""

import base64
import io
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from PIL import Image, ImageDraw
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema


def json_request_body(model: type[BaseModel], examples: dict[str, Any]) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    content = {"application/json": {"schema": schema, "examples": examples}}
    return {"requestBody": {"required": True, "content": content}}


def install_openapi(app: FastAPI, request_models: list[type[BaseModel]]) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        _, definitions = models_json_schema(
            [(m, "validation") for m in request_models], ref_template="#/components/schemas/{model}"
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions.get("$defs", {}))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def example_seven_pixels() -> list[list[int]]:
    """A hand-made 28x28 seven in MNIST convention (white on black)."""
    grid = [[0] * 28 for _ in range(28)]
    for col in range(8, 21):
        grid[7][col] = grid[8][col] = 255
    for row in range(9, 23):
        col = 20 - (row - 9) // 2
        grid[row][col] = grid[row][col - 1] = 255
    return grid


def example_seven_png_base64() -> str:
    """A dark seven drawn on a light 64x64 canvas, as a user would upload it."""
    image = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(image).line([(16, 14), (46, 14), (28, 52)], fill=0, width=6)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()
