"""HotRouteMiddleware sends POSTs on its routes straight to their endpoints; everything else to the app."""

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from service.api.hot_routes import HOT_ROUTES, HotRouteMiddleware


async def echo(request: Request) -> Response:
    return JSONResponse({"route": request.scope["route"].path, "params": request.path_params})


async def app_behind(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("the app")(scope, receive, send)


ROUTES = [Route("/v1/fixed", echo, methods=["POST"]), Route("/v2/models/{name}/infer", echo, methods=["POST"])]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/fixed", {"route": "/v1/fixed", "params": {}}),
        ("POST", "/v2/models/digits-cnn/infer", {"route": "/v2/models/{name}/infer", "params": {"name": "digits-cnn"}}),
        ("GET", "/v1/fixed", "the app"),  # other methods get FastAPI's 405
        ("POST", "/v2/models/digits-cnn/infer/more", "the app"),
        ("POST", "/v1/other", "the app"),
    ],
)
async def test_dispatch(method: str, path: str, expected: object) -> None:
    transport = httpx.ASGITransport(app=HotRouteMiddleware(app_behind, ROUTES))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.request(method, path)
    assert (response.json() if isinstance(expected, dict) else response.text) == expected


def test_every_prediction_route_is_hot() -> None:
    paths = {route.path for route in HOT_ROUTES}
    assert paths == {
        "/v1/digits/predict",
        "/v1/digits/predict/upload",
        "/v1/names/predict",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
    }
