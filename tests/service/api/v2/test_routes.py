"""The /v2 routes in-process: health, metadata, infer in JSON and binary, errors, auth, shared batching."""

import asyncio
import base64
import gzip
import json
import re
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest

from artifacts import ModelStore
from tests.paths import MODELS_STORE
from tests.service.api.v2.wire import binary_body, bytes_elements, json_body, read_outputs
from tests.service.conftest import make_settings, running_app, server_timing, wait_until
from tests.service.faults import faulty_model
from tests.service.images import dark_on_light

pytestmark = pytest.mark.asyncio

DIGITS = "digits-cnn"
NAMES = "names-gru"
INFER = f"/v2/models/{DIGITS}/infer"
SURNAMES = ["Nakamura", "Dvořák", "Иванов", "Rossi"]


def pixel_input(pixels: np.ndarray) -> tuple[str, str, list[int], bytes]:
    return "images", "UINT8", list(pixels.shape), pixels.astype(np.uint8).tobytes()


def digits_mean_std() -> tuple[float, float]:
    prep = ModelStore(MODELS_STORE).load(DIGITS).manifest.preprocessing
    return prep.mean, prep.std  # type: ignore[union-attr]


async def v1_digits(client: httpx.AsyncClient, pixels: np.ndarray) -> tuple[list[int], np.ndarray]:
    """/v1's labels and full probability rows (class order) for the same pixels."""
    body = {"images": [{"pixels": p.tolist()} for p in pixels], "model": DIGITS, "top_k": 10}
    return v1_rows((await client.post("/v1/digits/predict", json=body)).json(), "digit", list(range(10)))


def v1_rows(body: dict[str, Any], key: str, classes: list[Any]) -> tuple[list[Any], np.ndarray]:
    labels = [p[key] for p in body["predictions"]]
    rows = np.zeros((len(labels), len(classes)), dtype=np.float32)
    for row, prediction in enumerate(body["predictions"]):
        for item in prediction["top_k"]:
            rows[row, classes.index(item[key])] = item["probability"]
    return labels, rows


def assert_v2_error(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str), body
    assert fragment in body["error"], body["error"]


# ---- health and metadata ----


async def test_health_and_server_metadata(client: httpx.AsyncClient) -> None:
    live = await client.get("/v2/health/live")
    assert (live.status_code, live.json()) == (200, {"live": True})
    ready, v1_ready = await client.get("/v2/health/ready"), await client.get("/health/ready")
    assert ready.json() == {"ready": v1_ready.status_code == 200}
    assert ready.status_code == (200 if v1_ready.status_code == 200 else 400)
    metadata = await client.get("/v2")
    assert metadata.status_code == 200
    assert metadata.json() == {
        "name": "tinyserve",
        "version": metadata.json()["version"],
        "extensions": ["binary_tensor_data", "classification"],
    }


@pytest.mark.parametrize("path", [f"/v2/models/{DIGITS}/ready", f"/v2/models/{DIGITS}/versions/1/ready"])
async def test_model_ready(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert (response.status_code, response.json()) == (200, {"name": DIGITS, "ready": True})


@pytest.mark.parametrize("path", [f"/v2/models/{DIGITS}", f"/v2/models/{DIGITS}/versions/1"])
async def test_digits_metadata(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.json() == {
        "name": DIGITS,
        "versions": ["1"],
        "platform": "pytorch",
        "inputs": [
            {"name": "images", "datatype": "UINT8", "shape": [-1, 28, 28]},
            {"name": "image_bytes", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
            {"name": "label", "datatype": "INT64", "shape": [-1]},
        ],
    }


async def test_names_metadata(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v2/models/{NAMES}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["inputs"] == [{"name": "names", "datatype": "BYTES", "shape": [-1]}]
    assert body["outputs"] == [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 18]},
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
    ]


# ---- digits ----


async def test_json_pixels_equal_v1(client: httpx.AsyncClient, golden_digits: list[tuple[np.ndarray, int]]) -> None:
    pixels = np.stack([p for p, _ in golden_digits[:6]])
    body = json_body([("images", "UINT8", [6, 28, 28], pixels.ravel().tolist())], id="req-1")
    response = await client.post(INFER, json=body)
    header, outputs = read_outputs(response)
    assert response.headers["content-type"] == "application/json"
    assert (header["model_name"], header["model_version"], header["id"]) == (DIGITS, "1", "req-1")
    assert [(o["name"], o["datatype"], o["shape"]) for o in header["outputs"]] == [
        ("probabilities", "FP32", [6, 10]),
        ("label", "INT64", [6]),
    ]
    labels, rows = await v1_digits(client, pixels)
    assert outputs["label"].tolist() == labels == [label for _, label in golden_digits[:6]]
    np.testing.assert_allclose(outputs["probabilities"], rows, atol=1e-6)
    assert "batch_size" in response.headers["server-timing"]


async def test_binary_in_binary_out_versioned(
    client: httpx.AsyncClient, golden_digits: list[tuple[np.ndarray, int]]
) -> None:
    pixels = np.stack([p for p, _ in golden_digits[:4]])
    content, headers = binary_body([pixel_input(pixels)], parameters={"binary_data_output": True})
    response = await client.post(f"/v2/models/{DIGITS}/versions/1/infer", content=content, headers=headers)
    header, outputs = read_outputs(response)
    assert response.headers["content-type"] == "application/octet-stream"
    assert all("data" not in o and o["parameters"]["binary_data_size"] > 0 for o in header["outputs"])
    labels, rows = await v1_digits(client, pixels)
    assert outputs["label"].tolist() == labels
    np.testing.assert_allclose(outputs["probabilities"], rows, atol=1e-6)


async def test_fp32_normalised_input_gives_the_same_answers(
    client: httpx.AsyncClient, golden_digits: list[tuple[np.ndarray, int]]
) -> None:
    pixels = np.stack([p for p, _ in golden_digits[:5]])
    mean, std = digits_mean_std()
    normalised = ((pixels.astype(np.float32) / 255 - mean) / std)[:, None].astype("<f4")
    content, headers = binary_body([("images", "FP32", [5, 1, 28, 28], normalised.tobytes())])
    _, outputs = read_outputs(await client.post(INFER, content=content, headers=headers))
    labels, rows = await v1_digits(client, pixels)
    assert outputs["label"].tolist() == labels
    np.testing.assert_allclose(outputs["probabilities"], rows, atol=1e-5)


async def test_image_files_binary_and_base64_equal_v1_uploads(
    client: httpx.AsyncClient, clear_digits: list[tuple[np.ndarray, int]]
) -> None:
    files = [dark_on_light(p) for p, _ in clear_digits[:3]]
    v1 = await client.post(
        "/v1/digits/predict/upload", params={"model": DIGITS, "top_k": 10}, files=[("files", f) for f in files]
    )
    labels, rows = v1_rows(v1.json(), "digit", list(range(10)))
    content, headers = binary_body([("image_bytes", "BYTES", [3], bytes_elements(files))])
    as_json = json_body([("image_bytes", "BYTES", [3], [base64.b64encode(f).decode() for f in files])])
    for response in (
        await client.post(INFER, content=content, headers=headers),
        await client.post(INFER, json=as_json),
    ):
        _, outputs = read_outputs(response)
        assert outputs["label"].tolist() == labels == [label for _, label in clear_digits[:3]]
        np.testing.assert_allclose(outputs["probabilities"], rows, atol=1e-6)


async def test_classification_output(client: httpx.AsyncClient, golden_digits: list[tuple[np.ndarray, int]]) -> None:
    pixels = np.stack([p for p, _ in golden_digits[:3]])
    outputs_spec = [{"name": "probabilities", "parameters": {"classification": 3}}, {"name": "label"}]
    for binary in (False, True):
        body = json_body([("images", "UINT8", [3, 28, 28], pixels.ravel().tolist())], outputs=outputs_spec)
        body["parameters"] = {"binary_data_output": binary}
        header, outputs = read_outputs(await client.post(INFER, json=body))
        assert header["outputs"][0]["datatype"] == "BYTES" and header["outputs"][0]["shape"] == [3, 3]
        for row, label in zip(outputs["probabilities"], outputs["label"].tolist(), strict=True):
            parsed = [entry.split(":") for entry in row]
            assert all(len(p) == 3 and p[1] == p[2] for p in parsed)  # value:index:label; digit labels are indices
            values = [float(p[0]) for p in parsed]
            assert values == sorted(values, reverse=True) and int(parsed[0][1]) == label
            assert re.fullmatch(r"\d\.\d{6}", parsed[0][0])


async def test_output_selection_and_per_output_binary(
    client: httpx.AsyncClient, golden_digits: list[tuple[np.ndarray, int]]
) -> None:
    pixels, label = golden_digits[0]
    body = json_body([("images", "UINT8", [1, 28, 28], pixels.ravel().tolist())])
    body["outputs"] = [{"name": "label", "parameters": {"binary_data": True}}]
    header, outputs = read_outputs(await client.post(INFER, json=body))
    assert [o["name"] for o in header["outputs"]] == ["label"]
    assert outputs["label"].tolist() == [label]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_compressed_bodies(
    client: httpx.AsyncClient, golden_digits: list[tuple[np.ndarray, int]], encoding: str
) -> None:
    pixels = np.stack([p for p, _ in golden_digits[:2]])
    content, headers = binary_body([pixel_input(pixels)])
    packed = gzip.compress(content) if encoding == "gzip" else zlib.compress(content)
    response = await client.post(INFER, content=packed, headers={**headers, "Content-Encoding": encoding})
    assert read_outputs(response)[1]["label"].tolist() == [label for _, label in golden_digits[:2]]


# ---- names ----


async def test_names_json_and_binary_equal_v1(client: httpx.AsyncClient) -> None:
    v1 = await client.post("/v1/names/predict", json={"names": SURNAMES, "model": NAMES, "top_k": 18})
    assert v1.status_code == 200, v1.text
    countries = (await client.get(f"/v1/models/{NAMES}")).json()["labels"]
    labels, rows = v1_rows(v1.json(), "country", countries)
    content, headers = binary_body([("names", "BYTES", [4], bytes_elements([s.encode() for s in SURNAMES]))])
    for response in (
        await client.post(f"/v2/models/{NAMES}/infer", json=json_body([("names", "BYTES", [4], SURNAMES)])),
        await client.post(f"/v2/models/{NAMES}/versions/1/infer", content=content, headers=headers),
    ):
        header, outputs = read_outputs(response)
        assert header["outputs"][1] == {"name": "label", "datatype": "BYTES", "shape": [4], "data": labels}
        assert outputs["label"] == labels and labels[:2] == ["Japanese", "Czech"]
        np.testing.assert_allclose(outputs["probabilities"], rows, atol=1e-6)


async def test_names_classification_uses_country_labels(client: httpx.AsyncClient) -> None:
    body = json_body([("names", "BYTES", [1], ["Nakamura"])])
    body["outputs"] = [{"name": "probabilities", "parameters": {"classification": 2}}]
    _, outputs = read_outputs(await client.post(f"/v2/models/{NAMES}/infer", json=body))
    assert outputs["probabilities"][0][0].split(":")[2] == "Japanese"


# ---- errors: always {"error": "..."} with 400 / 404, never a 500 ----

PIXELS = bytes(784)


def raw(header: dict[str, Any], data: bytes = b"", length_delta: int = 0) -> tuple[bytes, dict[str, str]]:
    encoded = json.dumps(header).encode()
    return encoded + data, {"Inference-Header-Content-Length": str(len(encoded) + length_delta)}


def image_header(size: int, **tensor: Any) -> dict[str, Any]:
    entry = {"name": "images", "datatype": "UINT8", "shape": [1, 28, 28], "parameters": {"binary_data_size": size}}
    return {"inputs": [{**entry, **tensor}]}


ERROR_CASES: list[tuple[str, str, tuple[bytes, dict[str, str]], int, str]] = [
    ("unknown model", "/v2/models/nope/infer", raw(image_header(784), PIXELS), 404, "model 'nope' is not served"),
    ("unknown version", f"/v2/models/{DIGITS}/versions/7/infer", raw(image_header(784), PIXELS), 404, "no version '7'"),
    ("bad version", f"/v2/models/{DIGITS}/versions/v1/infer", raw(image_header(784), PIXELS), 404, "no version 'v1'"),
    (
        "unicode digit version",
        f"/v2/models/{DIGITS}/versions/²/infer",
        raw(image_header(784), PIXELS),
        404,
        "no version",
    ),
    (
        "wrong datatype",
        INFER,
        raw(image_header(784 * 8, datatype="INT64"), bytes(784 * 8)),
        400,
        "must be UINT8 [-1, 28, 28]",
    ),
    ("wrong shape", INFER, raw(image_header(756, shape=[1, 28, 27]), bytes(756)), 400, "should be [n, 28, 28]"),
    ("wrong rank", INFER, raw(image_header(784, shape=[28, 28]), PIXELS), 400, "should be [n, 28, 28]"),
    ("header past the body", INFER, raw(image_header(784), PIXELS, length_delta=10_000), 400, "the body has only"),
    ("header length not a number", INFER, (PIXELS, {"Inference-Header-Content-Length": "lots"}), 400, "byte count"),
    ("bytes do not match the shape", INFER, raw(image_header(700), bytes(700)), 400, "needs 784 bytes"),
    ("size overruns the body", INFER, raw(image_header(784), bytes(500)), 400, "overruns"),
    ("bytes nobody claims", INFER, raw(image_header(784), bytes(790)), 400, "belong to no input"),
    ("unknown input", INFER, raw(image_header(784, name="pixels"), PIXELS), 400, "takes exactly one input"),
    ("two inputs", INFER, raw({"inputs": image_header(784)["inputs"] * 2}, PIXELS * 2), 400, "given twice"),
    ("not json", INFER, (b"\x89PNG...", {}), 400, "not valid JSON"),
    ("no inputs", INFER, (b'{"inputs": []}', {}), 400, "at least 1 item"),
    ("unknown datatype", INFER, raw(image_header(784, datatype="BF16"), PIXELS), 400, "unsupported datatype 'BF16'"),
    ("too many images", INFER, raw(image_header(65 * 784, shape=[65, 28, 28]), bytes(65 * 784)), 400, "1 to 64 items"),
    ("empty batch", INFER, raw(image_header(0, shape=[0, 28, 28])), 400, "batch of 0"),
    (
        "pixel out of range",
        INFER,
        (json.dumps(json_body([("images", "UINT8", [1, 28, 28], [300] * 784)])).encode(), {}),
        400,
        "integers from 0 to 255",
    ),
    (
        "NaN in FP32",
        INFER,
        raw(
            image_header(784 * 4, datatype="FP32", shape=[1, 1, 28, 28]),
            np.full(784, np.nan, dtype="<f4").tobytes(),
        ),
        400,
        "must be finite",
    ),
    (
        "BYTES length prefix overruns",
        INFER,
        raw(
            {
                "inputs": [
                    {"name": "image_bytes", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 8}}
                ]
            },
            b"\xff\x00\x00\x00abcd",
        ),
        400,
        "declares 255 bytes but only 4 remain",
    ),
    (
        "undecodable image",
        INFER,
        raw(
            {
                "inputs": [
                    {"name": "image_bytes", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 8}}
                ]
            },
            bytes_elements([b"abcd"]),
        ),
        400,
        "image_bytes[0]: not a PNG",
    ),
    (
        "base64 expected in JSON",
        INFER,
        (json.dumps(json_body([("image_bytes", "BYTES", [1], ["not base64!"])])).encode(), {}),
        400,
        "base64",
    ),
    (
        "unknown output",
        INFER,
        raw({**image_header(784), "outputs": [{"name": "logits"}]}, PIXELS),
        400,
        "unknown output 'logits'",
    ),
    (
        "classification too large",
        INFER,
        raw(
            {**image_header(784), "outputs": [{"name": "probabilities", "parameters": {"classification": 11}}]}, PIXELS
        ),
        400,
        "at most 10",
    ),
    (
        "classification of the label",
        INFER,
        raw({**image_header(784), "outputs": [{"name": "label", "parameters": {"classification": 1}}]}, PIXELS),
        400,
        "applies to the 'probabilities' output",
    ),
    ("unsupported encoding", INFER, (b"{}", {"Content-Encoding": "br"}), 400, "not supported"),
    ("broken gzip", INFER, (b"not gzip at all", {"Content-Encoding": "gzip"}), 400, "not valid gzip"),
    ("no such route", "/v2/models/digits-cnn/explain", (b"", {}), 404, "no route POST"),
]


@pytest.mark.parametrize(
    ("path", "request_body", "status", "fragment"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
async def test_errors_are_v2_shaped(
    client: httpx.AsyncClient, path: str, request_body: tuple[bytes, dict[str, str]], status: int, fragment: str
) -> None:
    content, headers = request_body
    assert_v2_error(await client.post(path, content=content, headers=headers), status, fragment)


@pytest.mark.parametrize(
    ("names", "fragment"),
    [
        ([b"\xff\xfe"], "names[0] is not valid UTF-8"),
        ([b"Rossi", b"  "], "names[1] is empty"),
        ([b"123"], "no Latin letter"),
    ],
)
async def test_bad_names_are_400(client: httpx.AsyncClient, names: list[bytes], fragment: str) -> None:
    content, headers = binary_body([("names", "BYTES", [len(names)], bytes_elements(names))])
    assert_v2_error(await client.post(f"/v2/models/{NAMES}/infer", content=content, headers=headers), 400, fragment)


@pytest.mark.parametrize(
    "path",
    [
        "/v2/models/nope",
        "/v2/models/nope/ready",
        f"/v2/models/{DIGITS}/versions/2",
        f"/v2/models/{DIGITS}/versions/2/ready",
    ],
)
async def test_unknown_models_and_versions_are_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert_v2_error(response, 404, "nope" if "nope" in path else "no version '2'")


async def test_not_ready_is_503_and_ready_is_400(tmp_store: Any) -> None:
    weights = tmp_store / DIGITS / "1" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"corrupt!")
    async with running_app(make_settings(model_store=tmp_store, models=[DIGITS])) as (_, client):
        content, headers = binary_body([pixel_input(np.zeros((1, 28, 28), np.uint8))])
        assert_v2_error(await client.post(INFER, content=content, headers=headers), 503, "failed")
        assert_v2_error(await client.get(f"/v2/models/{DIGITS}"), 503, "failed")
        ready = await client.get(f"/v2/models/{DIGITS}/ready")
        assert (ready.status_code, ready.json()) == (400, {"name": DIGITS, "ready": False})
        server = await client.get("/v2/health/ready")
        assert (server.status_code, server.json()) == (400, {"ready": False})


# ---- limits and keys ----

KEY = "v2-key"


@pytest.fixture(scope="module")
async def strict() -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(make_settings(models=[DIGITS], api_keys=[KEY], max_body_bytes=4096)) as (_, client):
        yield client


async def test_decompression_is_capped(strict: httpx.AsyncClient) -> None:
    bomb = gzip.compress(json.dumps(json_body([("images", "UINT8", [1, 28, 28], [0] * 784)])).encode() + b" " * 100_000)
    assert len(bomb) < 4096
    response = await strict.post(INFER, content=bomb, headers={"Content-Encoding": "gzip", "X-API-Key": KEY})
    assert_v2_error(response, 413, "inflates to more than the 4096 byte limit")


@pytest.mark.parametrize(
    ("method", "path", "open_"),
    [
        ("GET", "/v2/health/live", True),
        ("GET", "/v2/health/ready", True),
        ("GET", f"/v2/models/{DIGITS}/ready", True),
        ("GET", "/v2", False),
        ("GET", f"/v2/models/{DIGITS}", False),
        ("POST", INFER, False),
        ("POST", f"/v2/models/{DIGITS}/versions/1/infer", False),
    ],
)
async def test_keys_guard_everything_but_health(strict: httpx.AsyncClient, method: str, path: str, open_: bool) -> None:
    content, headers = binary_body([pixel_input(np.zeros((1, 28, 28), np.uint8))])
    kwargs: dict[str, Any] = {"content": content, "headers": headers} if method == "POST" else {}
    anonymous = await strict.request(method, path, **kwargs)
    if open_:
        assert anonymous.status_code == 200
    else:
        assert_v2_error(anonymous, 401, "missing API key")
        assert anonymous.headers["www-authenticate"] == "Bearer"
        kwargs.setdefault("headers", {})["Authorization"] = f"Bearer {KEY}"
        assert (await strict.request(method, path, **kwargs)).status_code == 200


# ---- V2 and /v1 share the dynamic batcher ----


async def test_v2_and_v1_requests_share_batches(golden_digits: list[tuple[np.ndarray, int]]) -> None:
    """8 /v1 requests (1 image each) and 8 V2 FP32 requests (2 images each) queue up while the batch
    worker is held on an earlier request; released, it runs all 24 rows as one batch."""
    mean, std = digits_mean_std()
    settings = make_settings(models=[DIGITS], max_batch_delay_ms=200)
    async with running_app(settings) as (app, client):
        digits = [golden_digits[i % len(golden_digits)] for i in range(16)]
        pixels = [p for p, _ in digits]

        async def v1(i: int) -> httpx.Response:
            body = {"images": [{"pixels": pixels[i].tolist()}], "model": DIGITS, "top_k": 10}
            return await client.post("/v1/digits/predict", json=body)

        async def v2(i: int) -> httpx.Response:
            pair = np.stack(pixels[2 * i : 2 * i + 2])
            normalised = ((pair.astype(np.float32) / 255 - mean) / std)[:, None].astype("<f4")
            content, headers = binary_body([("images", "FP32", [2, 1, 28, 28], normalised.tobytes())])
            return await client.post(INFER, content=content, headers=headers)

        with faulty_model(app, DIGITS, hold=True) as forward:
            batcher = app.state.registry.get(DIGITS).batcher
            holder = asyncio.ensure_future(v1(0))
            await wait_until(lambda: forward.entered.is_set() and batcher.queued_items == 0)  # the worker holds it
            calls = asyncio.gather(*[call for i in range(8) for call in (v1(i), v2(i))])
            await wait_until(lambda: batcher.queued_items == 24)  # every row waits behind the held request
            forward.release.set()
            responses = await calls
            assert (await holder).status_code == 200
        assert forward.batch_sizes == [1, 16]  # the held request, then the 16 requests' 24 rows as one batch
        v1_responses, v2_responses = responses[0::2], responses[1::2]
        sizes = [int(server_timing(r)["batch_size"]) for r in responses]
        assert sizes == [24] * 16
        # Each caller still gets its own answers, identical to a request on its own.
        for i, response in enumerate(v2_responses):
            _, outputs = read_outputs(response)
            assert outputs["label"].tolist() == [digits[2 * i][1], digits[2 * i + 1][1]]
        for i, response in enumerate(v1_responses):
            assert response.json()["predictions"][0]["digit"] == digits[i][1]


def versioned_infers(metrics: str) -> float:
    """tinyserve_requests_total for successful V2 infers on one version (the registry is process-wide:
    compare before and after, never presence)."""
    route, total = 'route="/v2/models/{name}/versions/{version}/infer"', 0.0
    for line in metrics.splitlines():
        if line.startswith("tinyserve_requests_total{") and route in line and 'status="200"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_metrics_label_v2_requests_by_route(client: httpx.AsyncClient) -> None:
    body = json_body([("images", "UINT8", [1, 28, 28], [0] * 784)])
    before = versioned_infers((await client.get("/metrics")).text)
    for _ in range(3):
        assert (await client.post(f"/v2/models/{DIGITS}/versions/1/infer", json=body)).status_code == 200
    assert (await client.post(f"/v2/models/{DIGITS}/infer", json=body)).status_code == 200  # another route
    assert versioned_infers((await client.get("/metrics")).text) - before == 3
