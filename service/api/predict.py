"""/v1 predictions: ``POST /v1/models/{name}/predict[/upload]`` for every model, and the task aliases
``/v1/digits/predict[/upload]`` and ``/v1/names/predict``, which choose the model themselves.

Every path is one ``PredictRoute``; all of them take the same steps: the task parses the body,
prepares model rows, the batcher runs them, and the task encodes the results.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import QueryParams, UploadFile
from starlette.requests import Request

from service import tracing
from service.api.deps import request_context
from service.api.errors import UnsupportedMediaTypeError, request_id_of
from service.api.middleware import header
from service.api.multipart import form_files
from service.api.responses import JSONBytesResponse
from service.api.routing import Operation, PredictRoute
from service.api.timing import server_timing
from service.runtime.errors import UnprocessableInputError
from service.runtime.registry import ModelRegistry, ReadyModel, as_ready, parse_version
from service.settings import Settings
from service.tasks import Task, task_classes
from service.tasks.image_classification import DigitsPredictRequest, ImageClassification
from service.tasks.text_classification import NamesPredictRequest, TextClassification

COMMON_ERRORS = {
    401: "missing or invalid API key",
    404: "unknown model",
    503: "model not ready, or overloaded (see Retry-After)",
    504: "deadline passed while queued",
}
UPLOAD_FIELD = "files"


class UploadQuery(BaseModel):
    model_config = ConfigDict(frozen=True)  # shared: parsed once per query string

    top_k: int = Field(3, ge=1, le=10)
    model: str | None = Field(None, description="A digits model; default: the most accurate.")
    return_preprocessed: bool = Field(False, description="Add each image's 28x28 pixels as the model saw them.")


@dataclass(frozen=True)
class Alias:
    """A path that serves one task kind and picks the model: the request's ``model``, else a default."""

    path: str
    task: type[Task[Any, Any]]
    schema: type[BaseModel]
    default_model: Callable[[Settings], str | None]
    tag: str
    summary: str
    upload_summary: str = ""


ALIASES = (
    Alias(
        "/v1/digits/predict",
        ImageClassification,
        DigitsPredictRequest,
        lambda settings: settings.default_digits_model,
        "digits",
        "Classify digit images given as pixels or base64 files",
        "Classify uploaded image files (curl -F files=@seven.png)",
    ),
    Alias(
        "/v1/names/predict",
        TextClassification,
        NamesPredictRequest,
        lambda settings: settings.default_names_model,
        "names",
        "Guess the country of surnames",
    ),
)


async def answer(request: Request, model: ReadyModel, parsed: Any) -> JSONBytesResponse:
    """Prepare, batch, run and encode one parsed request on a ready model."""
    state = request.scope["state"]  # the middleware's dict: what the access log reads
    state["model"] = model.name
    started = time.perf_counter()
    with tracing.stage("prepare", model=model.name, version=model.version):
        prepared = await model.task.prepare(parsed)
    preprocess_s = time.perf_counter() - started
    outputs, timing = await model.batcher.submit(prepared.payload, prepared.size)
    if model.shadow is not None:  # only where TINYSERVE_SHADOW names a version: a copy, off this request
        model.shadow.offer(prepared.payload, prepared.size, outputs)
    state["batch_size"] = timing.batch_size
    with tracing.stage("encode", model=model.name, version=model.version):
        predictions = model.task.encode(parsed, prepared, outputs)
    body = {"model": model.name, "version": model.version, "predictions": predictions}
    return JSONBytesResponse(body, headers={"server-timing": server_timing(preprocess_s, timing)})


async def json_body(request: Request, upload_hint: str | None) -> bytes:
    if (header(request.scope, b"content-type") or b"").startswith(b"multipart/"):
        hint = f"; send files to {upload_hint}" if upload_hint else ""
        raise UnsupportedMediaTypeError(f"this endpoint takes a JSON body (application/json){hint}")
    return await request.body()


async def uploaded_files(request: Request, settings: Settings) -> tuple[list[bytes], UploadQuery]:
    """The files of a multipart form, and the query beside them."""
    body = await request.body()  # first: the body limit answers before anything else
    content_type = (header(request.scope, b"content-type") or b"").decode("latin-1")
    if not content_type.startswith("multipart/form-data"):
        raise UnsupportedMediaTypeError(
            f"this endpoint takes multipart/form-data with the images under {UPLOAD_FIELD!r} (curl -F files=@seven.png)"
        )
    query = upload_query(request.scope["query_string"])
    files = form_files(body, content_type, UPLOAD_FIELD, max_parts=settings.max_images)
    if files is None:  # not the common case: Starlette's parser reads it and says what is wrong
        files = await _files_from_form(request, settings)
    return files, query


@lru_cache(maxsize=128)
def upload_query(query_string: bytes) -> UploadQuery:
    """The upload routes' query; clients send the same few again and again (a bad one raises each time)."""
    return UploadQuery.model_validate(dict(QueryParams(query_string)))


async def _files_from_form(request: Request, settings: Settings) -> list[bytes]:
    form = await request.form(max_files=settings.max_images + 1)
    parts = form.getlist(UPLOAD_FIELD)
    if not parts:
        raise UnprocessableInputError(f"{UPLOAD_FIELD}: Field required (send one or more files under {UPLOAD_FIELD!r})")
    files = []
    for i, part in enumerate(parts):
        if not isinstance(part, UploadFile):
            raise UnprocessableInputError(f"{UPLOAD_FIELD}[{i}] is a text field; send a file (with a filename)")
        files.append(await part.read())
    return files


# ---- the generic routes: any model ----


def request_id(request: Request) -> Callable[[], str | None]:
    """The request's id, read only where a sticky traffic split asks for it."""
    return lambda: request_id_of(request)


def generic_model(request: Request, registry: ModelRegistry) -> ReadyModel:
    """The model of a generic route: ``{name}`` (which may say ``name:version``) or ``{name}/versions/{version}``."""
    params = request.path_params
    served, version = registry.lookup(params["name"])
    if "version" in params:
        version = parse_version(served, params["version"])
    return as_ready(served, None, version, request_id(request))


async def predict(request: Request) -> JSONBytesResponse:
    registry, settings = request_context(request)
    model = generic_model(request, registry)
    body = await json_body(request, f"{request.url.path}/upload" if model.task.accepts_files else None)
    with tracing.stage("decode"):
        parsed, _ = model.task.parse(body, model.task.request_model, settings)
    return await answer(request, model, parsed)


async def predict_upload(request: Request) -> JSONBytesResponse:
    registry, settings = request_context(request)
    model = generic_model(request, registry)
    with tracing.stage("decode"):
        files, query = await uploaded_files(request, settings)
        parsed = model.task.parse_files(files, query.top_k, query.return_preprocessed, settings)
    return await answer(request, model, parsed)


# ---- the aliases: one task kind, the model chosen in the request ----


def alias_endpoint(alias: Alias) -> Callable[[Request], Any]:
    async def predict_alias(request: Request) -> JSONBytesResponse:
        registry, settings = request_context(request)
        body = await json_body(request, f"{alias.path}/upload" if alias.task.accepts_files else None)
        with tracing.stage("decode"):
            parsed, asked = alias.task.parse(body, alias.schema, settings)
        name = asked or registry.default_model(alias.task.kind, alias.default_model(settings))
        return await answer(request, registry.ready_model(name, alias.task.kind, request_id(request)), parsed)

    return predict_alias


def alias_upload_endpoint(alias: Alias) -> Callable[[Request], Any]:
    async def predict_alias_upload(request: Request) -> JSONBytesResponse:
        registry, settings = request_context(request)
        with tracing.stage("decode"):
            files, query = await uploaded_files(request, settings)
            parsed = alias.task.parse_files(files, query.top_k, query.return_preprocessed, settings)
        name = query.model or registry.default_model(alias.task.kind, alias.default_model(settings))
        return await answer(request, registry.ready_model(name, alias.task.kind, request_id(request)), parsed)

    return predict_alias_upload


# ---- registration ----

UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    UPLOAD_FIELD: {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "One or more PNG/JPEG/BMP/GIF/WebP files.",
                    }
                },
                "required": [UPLOAD_FIELD],
            }
        }
    },
}


def upload_parameters(with_model: bool) -> list[dict[str, Any]]:
    schema = UploadQuery.model_json_schema()["properties"]
    names = ["top_k", "model", "return_preprocessed"] if with_model else ["top_k", "return_preprocessed"]
    return [{"name": name, "in": "query", "required": False, "schema": schema[name]} for name in names]


GENERIC_SUMMARY = "Predict with any served model; the body is its task's request"


def generic_operation(tasks: Sequence[type[Task[Any, Any]]], summary: str = GENERIC_SUMMARY) -> Operation:
    kinds = ", ".join(f"`{task.kind}`: `{task.request_model.__name__}`" for task in tasks)
    examples = {f"{task.kind}: {key}": example for task in tasks for key, example in task.examples.items()}
    errors = {**COMMON_ERRORS} | {status: text for task in tasks for status, text in task.errors.items()}
    return Operation(
        summary=summary,
        tag="models",
        description=f"The body depends on the model's task (see `GET /v1/models/{{name}}`): {kinds}.",
        request_models=tuple(task.request_model for task in tasks),
        examples=examples,
        response_models=tuple(task.response_model for task in tasks),
        errors=errors,
    )


def routes() -> list[PredictRoute]:
    tasks = list(task_classes().values())
    image_errors = {**COMMON_ERRORS, **ImageClassification.errors}
    registered = [
        PredictRoute("/v1/models/{name}/predict", predict, generic_operation(tasks)),
        PredictRoute(
            "/v1/models/{name}/versions/{version}/predict",
            predict,
            generic_operation(tasks, "Predict with one loaded version of a model; the body is its task's request"),
        ),
        PredictRoute(
            "/v1/models/{name}/predict/upload",
            predict_upload,
            Operation(
                "Predict with any model that takes files (image models)",
                "models",
                request_body=UPLOAD_BODY,
                parameters=upload_parameters(with_model=False),
                response_models=(ImageClassification.response_model,),
                errors=image_errors,
            ),
        ),
    ]
    for alias in ALIASES:
        errors = {**COMMON_ERRORS, **alias.task.errors}
        response = (alias.task.response_model,)
        operation = Operation(
            alias.summary, alias.tag, (alias.schema,), alias.task.examples, None, [], response, errors
        )
        registered.append(PredictRoute(alias.path, alias_endpoint(alias), operation))
        if alias.upload_summary:
            upload = Operation(
                alias.upload_summary,
                alias.tag,
                request_body=UPLOAD_BODY,
                parameters=upload_parameters(with_model=True),
                response_models=response,
                errors=errors,
            )
            registered.append(PredictRoute(f"{alias.path}/upload", alias_upload_endpoint(alias), upload))
    return registered
