"""The JSON prediction routes, dispatched before FastAPI's own machinery.

On a model this small FastAPI's per-request work (routing through included routers,
dependency solving, exit stacks, the per-route exception wrappers) costs more than the
forward pass. ``HotRouteMiddleware`` sits just inside ``RequestContextMiddleware`` (so
request ids, body limits, metrics and the access log still apply), sends POSTs to these
paths straight to their endpoints, and maps their errors with the same handlers as the
rest of the app. The APIRoutes of the same paths stay registered, so /docs and
/openapi.json describe them exactly; other methods on these paths reach FastAPI (405).
The endpoints read and validate the body themselves and check the API key through
``hot_route_context``.
"""

from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api import digits, names
from service.api.errors import handler_for

Endpoint = Callable[[Request], Awaitable[Response]]

HOT_ROUTES: dict[str, Endpoint] = {
    "/v1/digits/predict": digits.predict_digits,
    "/v1/names/predict": names.predict_names,
}


class HotRouteMiddleware:
    def __init__(self, app: ASGIApp, routes: dict[str, Endpoint] = HOT_ROUTES) -> None:
        self.app = app
        # Route objects only label requests (metrics, access log) by path, as FastAPI's routes do.
        self.routes = {path: Route(path, endpoint, methods=["POST"]) for path, endpoint in routes.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except Exception as exc:
            response = await handler_for(exc)(request, exc)
        await response(scope, receive, send)
