"""The /v1 prediction routes: the generic route for every model, the aliases, and uploads."""

import base64

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.service.conftest import png_bytes

pytestmark = pytest.mark.asyncio


def _one() -> bytes:
    """A dark vertical stroke on white: a "1" as a person would draw it."""
    pixels = np.full((28, 28), 255, dtype=np.uint8)
    pixels[4:24, 12:16] = 0
    return png_bytes(Image.fromarray(pixels))


ONE = _one()
ONE_BASE64 = base64.b64encode(ONE).decode()
FILES = [("files", ("one.png", ONE, "image/png"))]


@pytest.mark.parametrize(
    ("query", "model", "k"),
    [
        ("", "digits-resnet", 3),  # the most accurate digits model, the default top_k
        ("top_k=10&model=digits-cnn", "digits-cnn", 10),
        ("top_k=03", "digits-resnet", 3),  # valid, not the plain spelling
        ("top_k=1&top_k=2", "digits-resnet", 2),  # the last value counts, as for any query parameter
        ("unknown=1", "digits-resnet", 3),
    ],
)
async def test_uploads_are_answered_whatever_the_query_spelling(
    client: httpx.AsyncClient, query: str, model: str, k: int
) -> None:
    response = await client.post(f"/v1/digits/predict/upload?{query}", files=FILES)
    assert response.status_code == 200, response.text
    assert response.json()["model"] == model
    prediction = response.json()["predictions"][0]
    assert prediction["digit"] == 1 and prediction["top_k"][0]["digit"] == 1
    assert len(prediction["top_k"]) == k
    assert "preprocessed" not in prediction


async def test_a_form_with_a_text_field_among_the_files_gets_the_files(client: httpx.AsyncClient) -> None:
    """A form python-multipart's fast callbacks decline (a text field beside the files) still works."""
    response = await client.post("/v1/digits/predict/upload", files=FILES, data={"note": "hello"})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["digit"] == 1


@pytest.mark.parametrize(
    ("query", "files", "data", "status", "fragment"),
    [
        ("top_k=0", FILES, None, 422, "top_k"),
        ("top_k=x", FILES, None, 422, "top_k"),
        ("", [("file", ("one.png", ONE, "image/png"))], None, 422, "files: Field required"),
        ("", None, {"files": "not a file"}, 415, "multipart/form-data"),  # a URL-encoded form
        ("", FILES, {"files": "text"}, 422, "files[0] is a text field"),  # form fields come first in the body
    ],
)
async def test_upload_errors_name_what_is_wrong(
    client: httpx.AsyncClient,
    query: str,
    files: list[tuple[str, tuple[str, bytes, str]]] | None,
    data: dict[str, str] | None,
    status: int,
    fragment: str,
) -> None:
    response = await client.post(f"/v1/digits/predict/upload?{query}", files=files, data=data)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]["message"]


async def test_return_preprocessed_gives_the_28x28_the_model_saw(client: httpx.AsyncClient) -> None:
    uploaded = await client.post("/v1/digits/predict/upload?return_preprocessed=true", files=FILES)
    preprocessed = uploaded.json()["predictions"][0]["preprocessed"]
    grid = np.asarray(preprocessed)
    assert grid.shape == (28, 28) and grid.min() >= 0 and grid.max() == 255
    # The same pixels sent back as a grid get the same answer as the upload.
    again = await client.post("/v1/digits/predict", json={"images": [{"pixels": preprocessed}]})
    assert again.json()["predictions"][0]["probability"] == pytest.approx(
        uploaded.json()["predictions"][0]["probability"], abs=1e-6
    )


@pytest.mark.parametrize(
    ("name", "body", "key", "value"),
    [
        ("digits-cnn", {"images": [{"image_base64": ONE_BASE64}]}, "digit", 1),
        ("names-gru", {"names": ["Nakamura"], "top_k": 2}, "country", "Japanese"),
    ],
)
async def test_the_generic_route_answers_as_the_alias(
    client: httpx.AsyncClient, name: str, body: dict[str, object], key: str, value: object
) -> None:
    generic = await client.post(f"/v1/models/{name}/predict", json=body)
    alias_path = "/v1/digits/predict" if name.startswith("digits") else "/v1/names/predict"
    alias = await client.post(alias_path, json={**body, "model": name})
    assert generic.status_code == alias.status_code == 200, generic.text
    assert generic.json() == alias.json()
    assert generic.json()["predictions"][0][key] == value


async def test_the_generic_route_takes_no_model_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/names-gru/predict", json={"names": ["Nakamura"], "model": "names-gru"})
    assert response.status_code == 422
    assert "model" in response.json()["error"]["message"]


async def test_the_generic_route_checks_the_body_against_the_models_task(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/names-gru/predict", json={"images": [{"pixels": [[0] * 28] * 28}]})
    assert response.status_code == 422
    assert "names" in response.json()["error"]["message"]


async def test_the_generic_route_for_an_unknown_model_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/nope/predict", json={"names": ["x"]})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "model_not_found"


async def test_uploads_to_a_model_that_takes_no_files_are_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/names-gru/predict/upload", files=FILES)
    assert response.status_code == 422
    assert "no file uploads" in response.json()["error"]["message"]


async def test_generic_upload_route(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/digits-resnet/predict/upload?top_k=2", files=FILES)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "digits-resnet"
    assert body["predictions"][0]["digit"] == 1 and len(body["predictions"][0]["top_k"]) == 2
