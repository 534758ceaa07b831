"""NVIDIA's own V2 client (tritonclient.http) against `tinyserve serve` as a real process.

The client sends binary inputs by default, without a Content-Type, and reads binary
outputs by Inference-Header-Content-Length: if it works here, it works for Triton users.
Every answer is checked against /v1 on the same server for the same inputs.
"""

import base64
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from artifacts import ModelStore
from tests.paths import MODELS_STORE, PROJECT_ROOT
from tests.servers import started_server
from tests.service.images import dark_on_light

NAMES = "names-gru"
SURNAMES = ["Nakamura", "Dvořák", "Иванов", "Rossi", "O'Neill"]


def wait_loaded(base: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Until every model has loaded or failed (a failed one must not hide the others' tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}")
        try:
            states = httpx.get(f"{base}/health/ready", timeout=1).json()["models"]
            if "loading" not in states.values():
                return
        except (httpx.TransportError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    raise AssertionError("models did not finish loading")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """host:port of `tinyserve serve` over the committed models, in its own process (on a port it chose)."""
    env = {**os.environ, "TINYSERVE_MODEL_STORE": str(MODELS_STORE), "TINYSERVE_ACCESS_LOG": "false"}
    command = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", "0"]
    with started_server(command, env, ready=False) as running:
        try:
            wait_loaded(running.base, running.process)
        except AssertionError:
            raise AssertionError(running.log()[-4000:]) from None
        yield running.base.removeprefix("http://")


@pytest.fixture(scope="module")
def client(server: str) -> Iterator[triton.InferenceServerClient]:
    tc = triton.InferenceServerClient(server, concurrency=16)
    yield tc
    tc.close()


@pytest.fixture(scope="module")
def v1(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://{server}", timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def models(v1: httpx.Client) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = v1.get("/v1/models").json()["models"]
    return listed


@pytest.fixture(scope="module")
def digit_models(models: list[dict[str, Any]]) -> list[str]:
    """Every image model in the store; each must be ready."""
    names = [m["name"] for m in models if m["task"] == "image-classification" or m["name"].startswith("digits")]
    assert names, "the store holds at least one digits model"
    return names


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    golden = ModelStore(MODELS_STORE).load("digits-cnn").golden.pixels
    assert golden is not None
    return golden.numpy()[:8]


def v1_digits(v1: httpx.Client, model: str, pixels: np.ndarray) -> tuple[list[int], np.ndarray]:
    body = {"images": [{"pixels": p.tolist()} for p in pixels], "model": model, "top_k": 10}
    response = v1.post("/v1/digits/predict", json=body)
    assert response.status_code == 200, response.text
    return rows_of(response.json(), "digit", list(range(10)))


def rows_of(body: dict[str, Any], key: str, classes: list[Any]) -> tuple[list[Any], np.ndarray]:
    labels = [p[key] for p in body["predictions"]]
    rows = np.zeros((len(labels), len(classes)), dtype=np.float32)
    for row, prediction in enumerate(body["predictions"]):
        for item in prediction["top_k"]:
            rows[row, classes.index(item[key])] = item["probability"]
    return labels, rows


def tensor(name: str, array: np.ndarray, datatype: str, binary: bool) -> triton.InferInput:
    infer_input = triton.InferInput(name, list(array.shape), datatype)
    infer_input.set_data_from_numpy(array, binary_data=binary)
    return infer_input


def outputs(binary: bool, classification: int = 0) -> list[triton.InferRequestedOutput]:
    return [
        triton.InferRequestedOutput("probabilities", binary_data=binary, class_count=classification),
        triton.InferRequestedOutput("label", binary_data=binary),
    ]


# ---- health and metadata ----


def test_health(client: triton.InferenceServerClient, v1: httpx.Client, models: list[dict[str, Any]]) -> None:
    assert client.is_server_live()
    assert client.is_server_ready() == (v1.get("/health/ready").status_code == 200)
    for model in models:
        ready = model["status"] == "ready"
        assert client.is_model_ready(model["name"]) == ready, model
        if ready:
            assert client.is_model_ready(model["name"], str(model["version"]))
    assert not client.is_model_ready("no-such-model")


def test_server_metadata(client: triton.InferenceServerClient) -> None:
    metadata = client.get_server_metadata()
    assert metadata["name"] == "tinyserve"
    assert {"binary_tensor_data", "classification"} <= set(metadata["extensions"])


def test_model_metadata(client: triton.InferenceServerClient, models: list[dict[str, Any]]) -> None:
    for model in models:
        metadata = client.get_model_metadata(model["name"])
        assert metadata == client.get_model_metadata(model["name"], str(model["version"]))
        assert metadata["name"] == model["name"] and metadata["platform"] == "pytorch"
        assert metadata["versions"] == [str(model["version"])]
        classes = len(model["labels"])
        expected = {
            "regression": {"name": "value", "datatype": "FP32", "shape": [-1, 1]},
            "sequence-labelling": {"name": "output", "datatype": "BYTES", "shape": [-1]},
        }.get(model["task"], {"name": "probabilities", "datatype": "FP32", "shape": [-1, classes]})
        assert metadata["outputs"][0] == expected


# ---- digits ----


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_digits_pixels_equal_v1(
    client: triton.InferenceServerClient, v1: httpx.Client, digit_models: list[str], pixels: np.ndarray, binary: bool
) -> None:
    for model in digit_models:
        labels, rows = v1_digits(v1, model, pixels)
        version = str(v1.get(f"/v1/models/{model}").json()["version"])
        for model_version in ("", version):
            result = client.infer(
                model,
                [tensor("images", pixels, "UINT8", binary)],
                model_version=model_version,
                outputs=outputs(binary),
                request_id="r-7",
            )
            response = result.get_response()
            assert (response["model_name"], response["model_version"], response["id"]) == (model, version, "r-7")
            assert result.as_numpy("label").tolist() == labels
            np.testing.assert_allclose(result.as_numpy("probabilities"), rows, atol=1e-6)


def test_digits_default_outputs_come_back_binary(
    client: triton.InferenceServerClient, v1: httpx.Client, pixels: np.ndarray
) -> None:
    result = client.infer("digits-cnn", [tensor("images", pixels[:2], "UINT8", True)])  # no outputs named
    assert all("binary_data_size" in o["parameters"] for o in result.get_response()["outputs"])
    assert result.as_numpy("label").tolist() == v1_digits(v1, "digits-cnn", pixels[:2])[0]


def test_digits_fp32_normalised(client: triton.InferenceServerClient, v1: httpx.Client, pixels: np.ndarray) -> None:
    prep = ModelStore(MODELS_STORE).load("digits-cnn").manifest.preprocessing
    normalised = ((pixels.astype(np.float32) / 255 - prep.mean) / prep.std)[:, None]  # type: ignore[union-attr]
    labels, rows = v1_digits(v1, "digits-cnn", pixels)
    for binary in (True, False):
        result = client.infer("digits-cnn", [tensor("images", normalised.astype(np.float32), "FP32", binary)])
        assert result.as_numpy("label").tolist() == labels
        np.testing.assert_allclose(result.as_numpy("probabilities"), rows, atol=1e-5)


def test_digits_image_files(client: triton.InferenceServerClient, v1: httpx.Client, pixels: np.ndarray) -> None:
    files = [dark_on_light(p) for p in pixels[:3]]
    upload = v1.post(
        "/v1/digits/predict/upload", params={"model": "digits-cnn", "top_k": 10}, files=[("files", f) for f in files]
    )
    labels, rows = rows_of(upload.json(), "digit", list(range(10)))
    as_binary = tensor("image_bytes", np.array(files, dtype=np.object_), "BYTES", True)
    as_base64 = tensor("image_bytes", np.array([base64.b64encode(f) for f in files], dtype=np.object_), "BYTES", False)
    for infer_input in (as_binary, as_base64):
        result = client.infer("digits-cnn", [infer_input], outputs=outputs(True))
        assert result.as_numpy("label").tolist() == labels
        np.testing.assert_allclose(result.as_numpy("probabilities"), rows, atol=1e-6)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_classification(client: triton.InferenceServerClient, pixels: np.ndarray, binary: bool) -> None:
    result = client.infer("digits-cnn", [tensor("images", pixels[:4], "UINT8", True)], outputs=outputs(binary, 3))
    classes = result.as_numpy("probabilities")
    assert classes.shape == (4, 3)
    for row, label in zip(classes, result.as_numpy("label").tolist(), strict=True):
        value, index, name = (row[0].decode() if isinstance(row[0], bytes) else row[0]).split(":")
        assert int(index) == label and name == str(label) and 0 < float(value) <= 1


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_requests(client: triton.InferenceServerClient, pixels: np.ndarray, algorithm: str) -> None:
    plain = client.infer("digits-cnn", [tensor("images", pixels, "UINT8", True)])
    packed = client.infer(
        "digits-cnn",
        [tensor("images", pixels, "UINT8", True)],
        request_compression_algorithm=algorithm,
        response_compression_algorithm=algorithm,
    )
    assert packed.as_numpy("label").tolist() == plain.as_numpy("label").tolist()


def test_async_infer_many_in_flight(client: triton.InferenceServerClient, v1: httpx.Client, pixels: np.ndarray) -> None:
    labels = v1_digits(v1, "digits-cnn", pixels)[0]
    pending = [
        (
            i % len(pixels),
            client.async_infer("digits-cnn", [tensor("images", pixels[i % len(pixels)][None], "UINT8", True)]),
        )
        for i in range(96)
    ]
    answers = [(i, request.get_result(timeout=60).as_numpy("label").tolist()) for i, request in pending]
    assert all(answer == [labels[i]] for i, answer in answers)


# ---- names ----


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_names_equal_v1(client: triton.InferenceServerClient, v1: httpx.Client, binary: bool) -> None:
    predicted = v1.post("/v1/names/predict", json={"names": SURNAMES, "model": NAMES, "top_k": 18})
    assert predicted.status_code == 200, predicted.text
    countries = v1.get(f"/v1/models/{NAMES}").json()["labels"]
    labels, rows = rows_of(predicted.json(), "country", countries)
    names = np.array([s.encode() for s in SURNAMES], dtype=np.object_)
    result = client.infer(NAMES, [tensor("names", names, "BYTES", binary)], outputs=outputs(binary))
    assert [label.decode() if isinstance(label, bytes) else label for label in result.as_numpy("label")] == labels
    np.testing.assert_allclose(result.as_numpy("probabilities"), rows, atol=1e-6)
    ranked = client.infer(NAMES, [tensor("names", names, "BYTES", binary)], outputs=outputs(binary, 2))
    top = ranked.as_numpy("probabilities")[0][0]
    assert (top.decode() if isinstance(top, bytes) else top).endswith(":Japanese")


# ---- the course's models ----


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("model", ["hello-rnncell", "hello-rnn", "hello-embedding"])
def test_hello_becomes_ohlol(client: triton.InferenceServerClient, v1: httpx.Client, model: str, binary: bool) -> None:
    strings = np.array([b"hello", b"hel"], dtype=np.object_)
    requested = [triton.InferRequestedOutput(name, binary_data=binary) for name in ("output", "probabilities")]
    result = client.infer(model, [tensor("sequences", strings, "BYTES", binary)], outputs=requested)
    assert [text.decode() if isinstance(text, bytes) else text for text in result.as_numpy("output")] == [
        "ohlol",
        "ohl",
    ]
    answered = v1.post(f"/v1/models/{model}/predict", json={"sequences": ["hello"]}).json()["predictions"][0]
    per_position = [p["probability"] for p in answered["positions"]]
    np.testing.assert_allclose(result.as_numpy("probabilities")[0].max(axis=1), per_position, atol=1e-6)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tabular_models_equal_v1(client: triton.InferenceServerClient, v1: httpx.Client, binary: bool) -> None:
    hours = np.array([[1.0], [4.0]], dtype=np.float32)
    result = client.infer("logistic-regression", [tensor("features", hours, "FP32", binary)], outputs=outputs(binary))
    assert [label.decode() if isinstance(label, bytes) else label for label in result.as_numpy("label")] == [
        "fail",
        "pass",
    ]
    answered = v1.post("/v1/models/logistic-regression/predict", json={"inputs": [{"hours": 1.0}, {"hours": 4.0}]})
    _, rows = rows_of(answered.json(), "label", ["fail", "pass"])
    np.testing.assert_allclose(result.as_numpy("probabilities"), rows, atol=1e-6)
    value = client.infer("linear-regression", [tensor("features", hours[1:], "FP32", binary)])
    assert float(value.as_numpy("value")[0, 0]) == pytest.approx(8.0, abs=0.01)


# ---- errors reach the client as InferenceServerException with the HTTP status ----


@pytest.mark.parametrize(
    ("model", "version", "infer_input", "status", "fragment"),
    [
        ("nope", "", ("images", np.zeros((1, 28, 28), np.uint8), "UINT8"), "404", "not served"),
        ("digits-cnn", "9", ("images", np.zeros((1, 28, 28), np.uint8), "UINT8"), "404", "no version '9'"),
        ("digits-cnn", "", ("images", np.zeros((1, 28, 28), np.int64), "INT64"), "400", "must be UINT8"),
        ("digits-cnn", "", ("images", np.zeros((1, 28, 27), np.uint8), "UINT8"), "400", "[n, 28, 28]"),
        ("digits-cnn", "", ("pixels", np.zeros((1, 28, 28), np.uint8), "UINT8"), "400", "exactly one input"),
    ],
)
def test_errors(
    client: triton.InferenceServerClient,
    model: str,
    version: str,
    infer_input: tuple[str, np.ndarray, str],
    status: str,
    fragment: str,
) -> None:
    with pytest.raises(InferenceServerException) as caught:
        client.infer(model, [tensor(infer_input[0], infer_input[1], infer_input[2], True)], model_version=version)
    assert caught.value.status() == status
    assert fragment in caught.value.message()


# ---- docs/v2.md cannot rot: its examples run against this server ----

DOCS = (PROJECT_ROOT / "docs" / "v2.md").read_text()
DOCUMENTED_ADDRESS = "localhost:8000"


def doc_blocks(language: str) -> list[str]:
    return [b for b in re.findall(rf"```{language}\n(.*?)```", DOCS, flags=re.DOTALL) if DOCUMENTED_ADDRESS in b]


@pytest.mark.parametrize("block", doc_blocks("bash"), ids=lambda b: b.strip().splitlines()[0][:50])
def test_docs_shell_examples(server: str, block: str) -> None:
    script = "set -euo pipefail\n" + block.replace(DOCUMENTED_ADDRESS, server)
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert '"outputs"' in result.stdout and '"error"' not in result.stdout, result.stdout


@pytest.mark.parametrize("block", doc_blocks("python"), ids=lambda b: b.strip().splitlines()[-1][:50])
def test_docs_python_examples(server: str, block: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(block.replace(DOCUMENTED_ADDRESS, server), "docs/v2.md", "exec"), {})
    assert capsys.readouterr().out.strip()


def test_docs_cover_every_route_and_input() -> None:
    for text in (
        "/v2/health/live",
        "/v2/health/ready",
        "/ready",
        "GET /v2`",
        "/infer",
        "images",
        "image_bytes",
        "names",
    ):
        assert text in DOCS, text
