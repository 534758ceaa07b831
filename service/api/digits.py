"""POST /v1/digits/predict (JSON) and /v1/digits/predict/upload (multipart files)."""

import base64
import binascii
import time
from collections.abc import Sequence
from typing import Annotated, Any

import numpy as np
from fastapi import File, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from artifacts.manifest import Task
from service.api.deps import RegistryDep, SettingsDep, hot_route_context, v1_router
from service.api.fast_parse import parse_pixel_request
from service.api.multipart import form_files
from service.api.openapi import example_seven_pixels, example_seven_png_base64, json_request_body
from service.api.parsing import parse_json_body
from service.api.responses import JSONBytesResponse
from service.api.schemas import (
    DIGITS_MAX_TOP_K,
    DigitImage,
    DigitsPredictRequest,
    DigitsPredictResponse,
    ErrorResponse,
)
from service.api.timing import server_timing
from service.runtime.errors import InvalidInputError, RuntimeServiceError, UnprocessableInputError
from service.runtime.registry import ModelRegistry
from service.runtime.runners import DigitRunner, top_k
from service.settings import Settings

TASK: Task = "image-classification"
UPLOAD_PATH = "/v1/digits/predict/upload"
# Files up to this size (a few small PNGs) decode in well under a millisecond: on the event loop.
INLINE_DECODE_BYTES = 16 * 1024

router = v1_router("digits")

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        400: "undecodable image, image without ink, body not JSON",
        401: "missing or invalid API key",
        404: "unknown model",
        413: "body or image too large",
        422: "schema violation (shape, pixel range, counts, top_k, wrong model task)",
        503: "model not ready, or overloaded (see Retry-After)",
        504: "deadline passed while queued",
    }.items()
}

EXAMPLES = {
    "pixels": {
        "summary": "a 28x28 grid, MNIST convention",
        "value": {"images": [{"pixels": example_seven_pixels()}], "top_k": 3},
    },
    "image_base64": {
        "summary": "a PNG drawn dark on light",
        "value": {"images": [{"image_base64": example_seven_png_base64()}], "model": "digits-resnet"},
    },
}


@router.post(
    "/digits/predict",
    summary="Classify digit images given as pixels or base64 files",
    response_model=DigitsPredictResponse,
    responses=ERRORS,
    openapi_extra=json_request_body(DigitsPredictRequest, EXAMPLES),
)
async def predict_digits(request: Request) -> JSONBytesResponse:
    """A hot route: dispatched by HotRouteMiddleware, so it takes the request alone (see hot_routes)."""
    registry, settings = hot_route_context(request)
    fast = parse_pixel_request(await request.body())
    if fast is not None:
        return await _predict(request, registry, settings, fast.pixels, fast.top_k, fast.model)
    parsed = await parse_json_body(request, DigitsPredictRequest, upload_hint=UPLOAD_PATH)
    return await _predict(request, registry, settings, parsed.images, parsed.top_k, parsed.model)


@router.post(
    "/digits/predict/upload",
    summary="Classify uploaded image files (curl -F files=@seven.png)",
    response_model=DigitsPredictResponse,
    responses=ERRORS,
)
async def predict_digit_uploads(
    request: Request,
    registry: RegistryDep,
    settings: SettingsDep,
    files: Annotated[list[UploadFile], File(description="One or more PNG/JPEG/BMP/GIF/WebP files.")],
    top_k: Annotated[int, Query(ge=1, le=DIGITS_MAX_TOP_K)] = 3,
    model: Annotated[str | None, Query(description="A digits model; default: the most accurate.")] = None,
) -> JSONBytesResponse:
    contents = [await upload.read() for upload in files]
    return await _predict(request, registry, settings, contents, top_k, model)


# Exactly the plain spellings; anything else ("03", " 3") goes to FastAPI's route to be judged.
_TOP_K_SPELLINGS = frozenset(str(k) for k in range(1, DIGITS_MAX_TOP_K + 1))


async def predict_digit_uploads_hot(request: Request) -> JSONBytesResponse | None:
    """The upload route's common case for HotRouteMiddleware: plain query, files under "files".

    Anything else (an odd ``top_k``, a form that does not parse, no files) returns None, and the
    middleware hands the request with its body to ``predict_digit_uploads`` above, so every
    error keeps FastAPI's exact message.
    """
    registry, settings = hot_route_context(request)
    query = request.query_params
    top_k_values = query.getlist("top_k") or ["3"]
    models: list[str | None] = [*query.getlist("model")] or [None]
    if len(top_k_values) > 1 or len(models) > 1 or top_k_values[0] not in _TOP_K_SPELLINGS:
        return None
    body = await request.body()  # kept on the request: a fallback replays it
    files = form_files(body, request.headers.get("content-type", ""), "files", max_parts=settings.max_images)
    if files is None:
        return None
    return await _predict(request, registry, settings, files, int(top_k_values[0]), models[0])


async def _predict(
    request: Request,
    registry: ModelRegistry,
    settings: Settings,
    images: np.ndarray | Sequence[DigitImage | bytes],
    k: int,
    model: str | None,
) -> JSONBytesResponse:
    if len(images) > settings.max_images:
        raise UnprocessableInputError(f"{len(images)} images sent; at most {settings.max_images} per request")
    name = model or registry.default_model(TASK, settings.default_digits_model)
    served, runner, batcher = registry.ready_model(name, TASK)
    assert isinstance(runner, DigitRunner)
    request.state.model = name
    started = time.perf_counter()
    if isinstance(images, np.ndarray):  # pixel grids, already checked by the fast path
        payload = images
    elif all(isinstance(img, DigitImage) and img.pixels is not None for img in images):
        payload = runner.prepare_pixels([img.pixels for img in images])  # type: ignore[union-attr,misc]
    elif _encoded_bytes(images) <= INLINE_DECODE_BYTES:  # a thread hop costs more than decoding a small file
        payload = _prepare_encoded(runner, images)
    else:  # decoding large files is CPU work: keep it off the event loop
        payload = await run_in_threadpool(_prepare_encoded, runner, images)
    preprocess_s = time.perf_counter() - started
    probabilities, timing = await batcher.submit(payload, len(images))
    request.state.batch_size = timing.batch_size
    predictions = [
        {
            "digit": ranked[0][0],
            "probability": ranked[0][1],
            "top_k": [{"digit": d, "probability": p} for d, p in ranked],
        }
        for ranked in top_k(probabilities, k)
    ]
    body = {"model": name, "version": served.version, "predictions": predictions}
    return JSONBytesResponse(body, headers={"server-timing": server_timing(preprocess_s, timing)})


def _encoded_bytes(images: Sequence[DigitImage | bytes]) -> int:
    return sum(len(image) if isinstance(image, bytes) else len(image.image_base64 or "") for image in images)


def _prepare_encoded(runner: DigitRunner, images: Sequence[DigitImage | bytes]) -> np.ndarray:
    arrays = []
    for i, image in enumerate(images):
        try:
            if isinstance(image, bytes):
                arrays.append(runner.prepare_image(image))
            elif image.pixels is not None:
                arrays.append(runner.prepare_pixels([image.pixels]))
            else:
                assert image.image_base64 is not None
                arrays.append(runner.prepare_image(_b64decode(image.image_base64)))
        except RuntimeServiceError as exc:
            where = f"files[{i}]" if isinstance(image, bytes) else f"images[{i}]"
            raise type(exc)(f"{where}: {exc}") from None
    return np.concatenate(arrays)


def _b64decode(text: str) -> bytes:
    if text.startswith("data:"):  # accept data URLs as browsers produce them
        text = text.partition(",")[2]
    try:  # line breaks too, as the base64 command writes them every 76 characters
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError("image_base64 is not valid base64 (check the padding and alphabet)") from None
