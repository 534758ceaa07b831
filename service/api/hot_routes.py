"""The prediction routes, dispatched before FastAPI's own machinery.

On a model this small FastAPI's per-request work (routing through included routers,
dependency solving, exit stacks, the per-route exception wrappers) costs more than the
forward pass. ``HotRouteMiddleware`` sits just inside ``RequestContextMiddleware`` (so
request ids, body limits, metrics and the access log still apply), sends POSTs to these
paths straight to their endpoints, and maps their errors with the same handlers as the
rest of the app (V2's endpoint answers its own errors in V2's shape). An endpoint that
returns None declines (the upload route, for anything but its common case): FastAPI's
route of the same path then answers, reading the body again. The APIRoutes of the
same paths stay registered, so /docs and /openapi.json describe them exactly; other methods
on these paths reach FastAPI (405). The endpoints read and validate the body themselves
and check the API key through ``hot_route_context``.
"""

from collections.abc import Sequence

from fastapi import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api import digits, names
from service.api.errors import handler_for
from service.api.v2.routes import HOT_INFER_ROUTES

HOT_ROUTES = [
    Route("/v1/digits/predict", digits.predict_digits, methods=["POST"]),
    Route(digits.UPLOAD_PATH, digits.predict_digit_uploads_hot, methods=["POST"]),
    Route("/v1/names/predict", names.predict_names, methods=["POST"]),
    *HOT_INFER_ROUTES,
]


class HotRouteMiddleware:
    def __init__(self, app: ASGIApp, routes: Sequence[Route] = HOT_ROUTES) -> None:
        self.app = app
        # Fixed paths by dict lookup; the few with parameters (V2's model name) by Starlette's matching.
        self.fixed = {route.path: route for route in routes if not route.param_convertors}
        self.parametrised = [route for route in routes if route.param_convertors]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._match(scope) if scope["type"] == "http" and scope["method"] == "POST" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route  # what metrics and the access log label requests by, as FastAPI's routes do
        answer = await self._answer(route, Request(scope, receive, send))
        if isinstance(answer, bytes):  # declined: FastAPI's route of the same path answers, given the body again
            await self.app(scope, _replaying(answer, receive), send)
        else:
            await answer(scope, receive, send)

    @staticmethod
    async def _answer(route: Route, request: Request) -> Response | bytes:
        """The endpoint's response, an error response for what it raised, or the body if it declines."""
        try:
            response: Response | None = await route.endpoint(request)
            return response if response is not None else await request.body()  # the body limit applies here too
        except Exception as exc:
            return await handler_for(exc)(request, exc)

    def _match(self, scope: Scope) -> Route | None:
        route = self.fixed.get(scope["path"])
        if route is not None:
            return route
        for candidate in self.parametrised:
            match, child_scope = candidate.matches(scope)
            if match is Match.FULL:
                scope.update(child_scope)  # path_params
                return candidate
        return None


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` for an app that must read a body already read: the body first, then the connection."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
