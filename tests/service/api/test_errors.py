"""The one error envelope, for routes and methods that do not exist too."""

import httpx
import pytest

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize(
    ("method", "path", "status", "kind"),
    [
        ("GET", "/nope", 404, "not_found"),
        ("POST", "/v9/models/x/infer", 404, "not_found"),
        ("PUT", "/health/live", 405, "method_not_allowed"),
        ("GET", "/v1/digits/predict", 405, "method_not_allowed"),
    ],
)
async def test_envelope(client: httpx.AsyncClient, method: str, path: str, status: int, kind: str) -> None:
    response = await client.request(method, path)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["type"] == kind
    assert body["error"]["message"]
    assert body["error"]["request_id"] == response.headers["x-request-id"]


async def test_unsafe_request_ids_are_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"
    assert len(response.headers["x-request-id"]) == 32


async def test_generated_request_ids_are_distinct_hex(client: httpx.AsyncClient) -> None:
    ids = [(await client.get("/health/live")).headers["x-request-id"] for _ in range(3)]
    assert len(set(ids)) == 3
    assert all(len(id_) == 32 and int(id_, 16) >= 0 for id_ in ids)


async def test_openapi_documents_every_route_with_examples(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    for path in ("/v1/digits/predict", "/v1/digits/predict/upload", "/v1/names/predict", "/v1/models", "/health/ready"):
        assert path in paths
    body = paths["/v1/digits/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/DigitsPredictRequest"}
    assert {"pixels", "image_base64"} <= set(body["examples"])
    assert "DigitImage" in schema["components"]["schemas"]
    assert paths["/v1/names/predict"]["post"]["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
