"""POST /v1/names/predict: the country a surname most likely comes from."""

import time
from typing import Any

from fastapi import Request

from artifacts.manifest import Task
from service.api.deps import hot_route_context, v1_router
from service.api.openapi import json_request_body
from service.api.parsing import parse_json_body
from service.api.responses import JSONBytesResponse
from service.api.schemas import ErrorResponse, NamesPredictRequest, NamesPredictResponse
from service.api.timing import server_timing
from service.runtime.errors import UnprocessableInputError
from service.runtime.runners import NameRunner, top_k

TASK: Task = "text-classification"

router = v1_router("names")

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        400: "body not JSON",
        401: "missing or invalid API key",
        404: "unknown model",
        413: "body too large",
        422: "empty name, no letter after folding, over 64 characters, too many names, top_k out of range",
        503: "model not ready, or overloaded (see Retry-After)",
        504: "deadline passed while queued",
    }.items()
}

EXAMPLES = {
    "names": {
        "summary": "surnames in several scripts",
        "value": {"names": ["Nakamura", "Dvořák", "Иванов"], "top_k": 3, "model": "names-gru"},
    }
}


@router.post(
    "/names/predict",
    summary="Guess the country of surnames",
    response_model=NamesPredictResponse,
    responses=ERRORS,
    openapi_extra=json_request_body(NamesPredictRequest, EXAMPLES),
)
async def predict_names(request: Request) -> JSONBytesResponse:
    """A hot route: dispatched by HotRouteMiddleware, so it takes the request alone (see hot_routes)."""
    registry, settings = hot_route_context(request)
    parsed = await parse_json_body(request, NamesPredictRequest)
    if len(parsed.names) > settings.max_names:
        raise UnprocessableInputError(f"{len(parsed.names)} names sent; at most {settings.max_names} per request")
    name = parsed.model or registry.default_model(TASK, settings.default_names_model)
    served, runner, batcher = registry.ready_model(name, TASK)
    assert isinstance(runner, NameRunner)
    if parsed.top_k > len(runner.labels):
        raise UnprocessableInputError(f"top_k: at most {len(runner.labels)} for model {name!r}")
    request.state.model = name
    started = time.perf_counter()
    folded = runner.prepare_names(parsed.names)
    preprocess_s = time.perf_counter() - started
    probabilities, timing = await batcher.submit(folded, len(folded))
    request.state.batch_size = timing.batch_size
    labels = runner.labels
    predictions = [
        {
            "name": raw,
            "normalized": normalized,
            "country": labels[ranked[0][0]],
            "probability": ranked[0][1],
            "top_k": [{"country": labels[c], "probability": p} for c, p in ranked],
        }
        for raw, normalized, ranked in zip(parsed.names, folded, top_k(probabilities, parsed.top_k), strict=True)
    ]
    body = {"model": name, "version": served.version, "predictions": predictions}
    return JSONBytesResponse(body, headers={"server-timing": server_timing(preprocess_s, timing)})
