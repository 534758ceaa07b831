"""Schema fuzzing: schemathesis drives every /v1 operation of the service's own /openapi.json.

For each operation it generates positive data (fits the schema) and negative data (breaks it) and
checks every answer with its built-in checks: no 5xx, a documented status code, content type,
headers and response schema, and negative data rejected with a 4xx. Over ASGI, schemathesis runs the
app's lifespan, so the models load; the fixture waits until they are ready.

The cases come from ``operation.as_strategy`` under a plain ``@given``, not ``schema.parametrize``:
the lazy ``schemathesis.pytest.from_fixture`` loader fails on pytest 9 (it reads ``node._nodeid``),
and an eager schema would build the app and load the models while pytest collects.
Sized for CI by ``TINYSERVE_FUZZ_EXAMPLES`` (default 100 per operation and mode).
"""

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.python import asgi
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.schemas import OpenApiSchema

from service.app import create_app
from tests.hardening import tally
from tests.service.conftest import make_settings

EXAMPLES = int(os.environ.get("TINYSERVE_FUZZ_EXAMPLES", "100"))
MODELS = ["digits-cnn", "names-gru", "linear-regression", "diabetes-mlp", "hello-rnn"]  # every task kind
V1_OPERATIONS = [
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{name}"),
    ("POST", "/v1/digits/predict"),
    ("POST", "/v1/digits/predict/upload"),
    ("POST", "/v1/names/predict"),
    ("POST", "/v1/models/{name}/predict"),
    ("POST", "/v1/models/{name}/predict/upload"),
    ("POST", "/v1/models/{name}/versions/{version}/predict"),
]
# Present only when TINYSERVE_ADMIN_KEYS is set (service/api/admin.py); fuzzed with and without the key.
ADMIN_KEY = "fuzz-admin-key"
ADMIN_OPERATIONS = [
    ("POST", "/v1/admin/models/{name}/reload"),
    ("POST", "/v1/admin/models/{name}/unload"),
    ("POST", "/v1/admin/models/{name}/traffic"),
]


# Schema-valid data may still break a rule JSON Schema does not express: "exactly one of pixels or
# image_base64", an image without ink, a name with no letter, an empty multipart. Those are the
# documented 400 / 413 / 422; a 5xx, 405 or 415 for schema-valid data still fails.
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", 400, 404, 413, 422]}}}
)
# Operations whose inputs can break the schema; the others have no constraint to break.
WITH_CONSTRAINTS = [op for op in V1_OPERATIONS if op[0] == "POST"]
CASES = [
    *(pytest.param(m, p, GenerationMode.POSITIVE, id=f"{m} {p} positive") for m, p in V1_OPERATIONS),
    *(pytest.param(m, p, GenerationMode.NEGATIVE, id=f"{m} {p} negative") for m, p in WITH_CONSTRAINTS),
]


@pytest.fixture(scope="module")
def api_schema() -> OpenApiSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(make_settings(models=MODELS)), config=CONFIG)


def wait_until_ready(schema: OpenApiSchema) -> None:
    """The schemathesis plugin ends the app's lifespan after each test; the next request starts it again."""
    with asgi.get_client(schema.app) as client:
        deadline = time.monotonic() + 120
        while client.get("/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "the models did not load"
            time.sleep(0.05)


def test_every_v1_operation_is_fuzzed(api_schema: OpenApiSchema) -> None:
    results = list(api_schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "the service's OpenAPI document has operations schemathesis cannot read"
    documented = {(op.method.upper(), op.path) for op in operations if op.path.startswith("/v1/")}
    assert documented == set(V1_OPERATIONS)


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_v1_operation_answers_as_documented(
    api_schema: OpenApiSchema, method: str, path: str, mode: GenerationMode
) -> None:
    wait_until_ready(api_schema)
    fuzz(api_schema[path][method], mode, f"{method} {path} ({mode.value})", EXAMPLES)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_the_generic_route_answers_as_documented_for_every_task(
    api_schema: OpenApiSchema, model: str, mode: GenerationMode
) -> None:
    """The generic route with a served model's name: bodies of every task's schema reach that model's task."""
    wait_until_ready(api_schema)
    operation = api_schema["/v1/models/{name}/predict"]["POST"]
    label = f"POST /v1/models/{model}/predict ({mode.value})"
    fuzz(operation, mode, label, EXAMPLES // 2, path_parameters={"name": model})


def fuzz(
    operation: APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    label: str,
    examples: int,
    *,
    path_parameters: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    check: Callable[[Any], None] | None = None,
) -> None:
    """Cases of ``operation`` in ``mode``, each sent and its answer checked against the document
    (or by ``check``), counted in the tally under ``label``."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    def run(case: schemathesis.Case[APIOperation[Any, Any, Any, Any]]) -> None:
        if path_parameters is not None:
            case.path_parameters = path_parameters
        response = case.call(headers=headers or {})
        tally.record(f"schemathesis: {label}", response.status_code)
        if check is not None:
            check(response)
        else:
            case.validate_response(response)

    run()


@pytest.fixture(scope="module")
def admin_schema() -> OpenApiSchema:
    app = create_app(make_settings(models=["digits-cnn"], admin_keys=ADMIN_KEY, autotune=False))
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=ADMIN_CONFIG)


# A version outside the store, or the only loaded one unloaded: 409, documented.
ADMIN_CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", 404, 409, 422]}}}
)


def test_every_admin_operation_is_fuzzed(admin_schema: OpenApiSchema, api_schema: OpenApiSchema) -> None:
    documented = {(op.method.upper(), op.path) for op in _operations(admin_schema) if op.path.startswith("/v1/")}
    assert documented == set(V1_OPERATIONS) | set(ADMIN_OPERATIONS)
    assert not {op.path for op in _operations(api_schema) if op.path.startswith("/v1/admin")}  # no key: no routes


def _operations(schema: OpenApiSchema) -> list[APIOperation[Any, Any, Any, Any]]:
    return [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]


@pytest.mark.parametrize(("method", "path"), ADMIN_OPERATIONS)
@pytest.mark.parametrize("key", [ADMIN_KEY, None], ids=["admin key", "no key"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_admin_operation_answers_as_documented(
    admin_schema: OpenApiSchema, method: str, path: str, key: str | None, mode: GenerationMode
) -> None:
    """With the admin key every answer is documented; without it, always 401."""
    wait_until_ready(admin_schema)
    label = f"{method} {path} ({mode.value}, {key and 'admin key'})"
    fuzz(
        admin_schema[path][method],
        mode,
        label,
        EXAMPLES // 2,
        headers={"x-admin-key": key} if key else None,
        check=None if key else assert_unauthorized,
    )


def assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401, response.text
