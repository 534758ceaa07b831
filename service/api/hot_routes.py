"""The JSON prediction routes, served by plain Starlette routes in front of FastAPI's.

On a model this small FastAPI's per-request machinery (the included-router lookup,
dependency solving, exit stacks) costs more than the forward pass: in-process, one
digit request took about 2.5x longer through the APIRoute than through a Starlette
Route calling the same function. The APIRoutes stay registered, so /docs and
/openapi.json describe these paths exactly; requests are matched here first and never
reach them. The endpoints read and validate the body themselves and check the API key
through ``hot_route_context``.
"""

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from service.api import digits, names

Endpoint = Callable[[Request], Awaitable[Response]]

HOT_ROUTES: dict[str, Endpoint] = {
    "/v1/digits/predict": digits.predict_digits,
    "/v1/names/predict": names.predict_names,
}


class HotRoute(Route):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self  # as FastAPI does for its routes: metrics and logs label by route path
        await super().handle(scope, receive, send)


def mount_hot_routes(app: FastAPI) -> None:
    for path, endpoint in HOT_ROUTES.items():
        app.router.routes.insert(0, HotRoute(path, endpoint, methods=["POST"]))
