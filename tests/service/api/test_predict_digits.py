import httpx
import numpy as np
import pytest
from PIL import Image

from tests.service.conftest import b64, png_bytes
from tests.service.images import IMAGE_KINDS

pytestmark = pytest.mark.asyncio

Digits = list[tuple[np.ndarray, int]]


async def test_pixels_give_the_trained_answers_in_order(client: httpx.AsyncClient, golden_digits: Digits) -> None:
    images = [{"pixels": pixels.tolist()} for pixels, _ in golden_digits]
    response = await client.post("/v1/digits/predict", json={"images": images, "model": "digits-resnet"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "digits-resnet" and body["version"] == 1
    assert [p["digit"] for p in body["predictions"]] == [label for _, label in golden_digits]
    for prediction in body["predictions"]:
        assert len(prediction["top_k"]) == 3
        assert prediction["top_k"][0] == {"digit": prediction["digit"], "probability": prediction["probability"]}
        probabilities = [entry["probability"] for entry in prediction["top_k"]]
        assert probabilities == sorted(probabilities, reverse=True)


async def test_default_model_is_the_most_accurate_digits_model(
    client: httpx.AsyncClient, golden_digits: Digits
) -> None:
    models = (await client.get("/v1/models")).json()["models"]
    digit_models = [m for m in models if m["task"] == "image-classification"]
    best = max(digit_models, key=lambda m: m["metrics"]["test_accuracy"])
    response = await client.post("/v1/digits/predict", json={"images": [{"pixels": golden_digits[0][0].tolist()}]})
    assert response.status_code == 200
    assert response.json()["model"] == best["name"]


@pytest.mark.parametrize("kind", sorted(IMAGE_KINDS))
async def test_every_image_kind_is_classified_correctly(
    client: httpx.AsyncClient, clear_digits: Digits, kind: str
) -> None:
    make = IMAGE_KINDS[kind]
    images = [{"image_base64": b64(make(pixels))} for pixels, _ in clear_digits]
    response = await client.post("/v1/digits/predict", json={"images": images, "model": "digits-resnet", "top_k": 1})
    assert response.status_code == 200, response.text
    predicted = [p["digit"] for p in response.json()["predictions"]]
    assert predicted == [label for _, label in clear_digits]


async def test_upload_multipart_files(client: httpx.AsyncClient, clear_digits: Digits) -> None:
    make = IMAGE_KINDS["drawing_on_canvas"]
    files = [("files", (f"digit{i}.png", make(pixels), "image/png")) for i, (pixels, _) in enumerate(clear_digits)]
    response = await client.post("/v1/digits/predict/upload?top_k=2&model=digits-cnn", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "digits-cnn"
    assert [p["digit"] for p in body["predictions"]] == [label for _, label in clear_digits]
    assert all(len(p["top_k"]) == 2 for p in body["predictions"])


async def test_mixed_pixels_and_files_in_one_request(client: httpx.AsyncClient, clear_digits: Digits) -> None:
    (first, label_a), (second, label_b) = clear_digits[:2]
    images = [{"pixels": first.tolist()}, {"image_base64": b64(IMAGE_KINDS["jpeg_scaled"](second))}]
    response = await client.post("/v1/digits/predict", json={"images": images})
    assert [p["digit"] for p in response.json()["predictions"]] == [label_a, label_b]


async def test_server_timing_and_request_id(client: httpx.AsyncClient, golden_digits: Digits) -> None:
    response = await client.post(
        "/v1/digits/predict",
        json={"images": [{"pixels": golden_digits[0][0].tolist()}]},
        headers={"X-Request-ID": "client-chosen-42"},
    )
    assert response.headers["x-request-id"] == "client-chosen-42"
    timing = response.headers["server-timing"]
    for metric in ("queue;dur=", "preprocess;dur=", "inference;dur=", 'batch_size;desc="'):
        assert metric in timing


def grid(value: object = 0, rows: int = 28, cols: int = 28) -> list[list[object]]:
    return [[value] * cols for _ in range(rows)]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"images": []}, "images: List should have at least 1 item"),
        ({"images": [{}]}, "exactly one of 'pixels' or 'image_base64'"),
        ({"images": [{"pixels": grid(), "image_base64": "AAAA"}]}, "exactly one"),
        ({"images": [{"pixels": grid(rows=27)}]}, "images[0].pixels: List should have at least 28 items"),
        ({"images": [{"pixels": grid(cols=29)}]}, "images[0].pixels[0]: List should have at most 28 items"),
        ({"images": [{"pixels": grid(256)}]}, "images[0].pixels[0][0]: Input should be less than or equal to 255"),
        ({"images": [{"pixels": grid(-1)}]}, "greater than or equal to 0"),
        ({"images": [{"pixels": grid(0.5)}]}, "images[0].pixels[0][0]: Input should be a valid integer"),
        ({"images": [{"pixels": grid("7")}]}, "Input should be a valid integer"),
        ({"images": [{"pixels": grid()}], "top_k": 0}, "top_k: Input should be greater than or equal to 1"),
        ({"images": [{"pixels": grid()}], "top_k": 11}, "top_k: Input should be less than or equal to 10"),
        ({"images": [{"pixels": grid()}] * 65}, "65 images sent; at most 64"),
        ({"images": [{"pixels": grid()}], "model": "names-gru"}, "this endpoint needs a image-classification model"),
        ({"images": [{"pixels": grid()}], "extra": 1}, "extra: Extra inputs are not permitted"),
    ],
)
async def test_schema_violations_are_422(client: httpx.AsyncClient, body: dict[str, object], fragment: str) -> None:
    response = await client.post("/v1/digits/predict", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "validation_error"
    assert fragment in error["message"]


@pytest.mark.parametrize(
    ("image", "status", "fragment"),
    [
        ("not base64!!", 400, "images[0]: image_base64 is not valid base64"),
        (b64(b""), 400, "images[0]: the image is empty"),
        (b64(b"hello, I am text"), 400, "images[0]: not a PNG, JPEG, BMP, GIF or WebP image"),
        (b64(png_bytes(Image.new("L", (50, 50), 255))), 400, "no visible ink"),
        (b64(png_bytes(Image.new("L", (4097, 4097), 0))), 413, "at most 16777216 pixels"),
    ],
)
async def test_bad_images(client: httpx.AsyncClient, image: str, status: int, fragment: str) -> None:
    response = await client.post("/v1/digits/predict", json={"images": [{"image_base64": image}]})
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]["message"]


async def test_not_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/digits/predict", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_json"


async def test_multipart_to_the_json_route_points_to_upload(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/digits/predict", files={"files": ("a.png", b"x", "image/png")})
    assert response.status_code == 415
    assert "/v1/digits/predict/upload" in response.json()["error"]["message"]


async def test_unknown_model_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/digits/predict", json={"images": [{"pixels": grid()}], "model": "digits-xl"})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "model_not_found"


async def test_body_over_the_limit_is_413_before_parsing(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/digits/predict", content=b"[" * (8 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "payload_too_large"


async def test_upload_of_a_bad_file_names_it(client: httpx.AsyncClient, golden_digits: Digits) -> None:
    files = [
        ("files", ("ok.png", IMAGE_KINDS["mnist_png"](golden_digits[0][0]), "image/png")),
        ("files", ("bad.png", b"GIF89a-broken", "image/png")),
    ]
    response = await client.post("/v1/digits/predict/upload", files=files)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("files[1]:")


async def test_base64_with_line_breaks_is_accepted(client: httpx.AsyncClient, clear_digits: Digits) -> None:
    pixels, label = clear_digits[0]
    encoded = b64(IMAGE_KINDS["dark_on_light"](pixels))
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76)) + "\n"
    response = await client.post("/v1/digits/predict", json={"images": [{"image_base64": wrapped}]})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["digit"] == label
