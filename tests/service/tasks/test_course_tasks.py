"""The course's models through the regression, tabular-classification and sequence-labelling tasks,
over /v1 and V2, with the committed artifacts: the course's answers, and a 422 naming what is wrong."""

import math
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.asyncio

HELLO_MODELS = ["hello-rnncell", "hello-rnn", "hello-embedding"]
DIABETES_FEATURES = ["pregnancies", "glucose", "blood_pressure", "skin_thickness", "insulin", "bmi", "pedigree", "age"]


async def predict(client: httpx.AsyncClient, model: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/v1/models/{model}/predict", json=body)


async def test_linear_regression_predicts_8_for_4(client: httpx.AsyncClient) -> None:
    response = await predict(client, "linear-regression", {"inputs": [{"x": 4.0}, {"x": 1}]})
    assert response.status_code == 200, response.text
    values = [p["value"] for p in response.json()["predictions"]]
    assert values[0] == pytest.approx(8.0, abs=0.01) and values[1] == pytest.approx(2.0, abs=0.01)


async def test_logistic_regression_passes_after_4_hours_not_after_1(client: httpx.AsyncClient) -> None:
    response = await predict(client, "logistic-regression", {"inputs": [{"hours": 1}, {"hours": 4}]})
    assert response.status_code == 200, response.text
    one, four = response.json()["predictions"]
    p_pass = [{s["label"]: s["probability"] for s in p["top_k"]}["pass"] for p in (one, four)]
    assert p_pass[0] < 0.5 < p_pass[1]
    assert (one["label"], four["label"]) == ("fail", "pass")
    assert all(sum(s["probability"] for s in p["top_k"]) == pytest.approx(1.0) for p in (one, four))


async def test_diabetes_mlp_answers_with_both_classes(client: httpx.AsyncClient) -> None:
    row = dict.fromkeys(DIABETES_FEATURES, 0.0)
    response = await predict(client, "diabetes-mlp", {"inputs": [row], "top_k": 1})
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    assert prediction["label"] in {"diabetes", "no diabetes"} and len(prediction["top_k"]) == 1


@pytest.mark.parametrize("model", HELLO_MODELS)
async def test_hello_becomes_ohlol_over_v1(client: httpx.AsyncClient, model: str) -> None:
    response = await predict(client, model, {"sequences": ["hello", "hel"]})
    assert response.status_code == 200, response.text
    hello, short = response.json()["predictions"]
    assert (hello["input"], hello["output"]) == ("hello", "ohlol")
    assert [p["output"] for p in hello["positions"]] == list("ohlol")
    assert all(0.25 < p["probability"] <= 1 for p in hello["positions"])
    assert short["output"] == "ohl"  # the models are causal: padding in the batch changes nothing


@pytest.mark.parametrize("model", HELLO_MODELS)
async def test_hello_becomes_ohlol_over_v2(client: httpx.AsyncClient, model: str) -> None:
    body = {"inputs": [{"name": "sequences", "shape": [1], "datatype": "BYTES", "data": ["hello"]}]}
    response = await client.post(f"/v2/models/{model}/infer", json=body)
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    assert outputs["output"]["data"] == ["ohlol"]
    assert outputs["probabilities"]["shape"] == [1, 5, 4]


async def test_tabular_models_over_v2(client: httpx.AsyncClient) -> None:
    body = {"inputs": [{"name": "features", "shape": [2, 1], "datatype": "FP32", "data": [1, 4]}]}
    response = await client.post("/v2/models/logistic-regression/infer", json=body)
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o["data"] for o in response.json()["outputs"]}
    assert outputs["label"] == ["fail", "pass"]
    linear = await client.post(
        "/v2/models/linear-regression/infer", json={"inputs": [{**body["inputs"][0], "shape": [1, 1], "data": [4]}]}
    )
    assert linear.json()["outputs"][0]["data"][0] == pytest.approx(8.0, abs=0.01)
    metadata = (await client.get("/v2/models/diabetes-mlp")).json()
    assert metadata["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 8]}]


@pytest.mark.parametrize(
    ("model", "body", "fragment"),
    [
        ("diabetes-mlp", {"inputs": [dict.fromkeys(DIABETES_FEATURES[:-1], 0.0)]}, "inputs[0]: missing ['age']"),
        ("linear-regression", {"inputs": [{"x": 1, "y": 2}]}, "inputs[0]: unknown ['y']"),
        ("linear-regression", {"inputs": [{"x": "4"}]}, "inputs[0].x: Input should be a valid number"),
        ("linear-regression", {"inputs": [{"x": 1e39}]}, "inputs[0].x: must be a finite number"),
        (
            "logistic-regression",
            {"inputs": [{"hours": -1}]},
            "inputs[0].hours: -1 is outside the accepted range, 0 to inf h",
        ),
        ("linear-regression", {"inputs": []}, "inputs: List should have at least 1 item"),
        (
            "hello-rnn",
            {"sequences": ["hexlo"]},
            "sequences[0]: character 'x' at position 2 is not in the vocabulary 'ehlo'",
        ),
        ("hello-rnn", {"sequences": [""]}, "sequences[0]: the input is empty"),
        ("hello-rnn", {"sequences": ["hello" * 13]}, "sequences[0]: the input has 65 characters; at most 64"),
        ("logistic-regression", {"inputs": [{"hours": 1}], "top_k": 3}, "top_k: at most 2"),
    ],
)
async def test_bad_inputs_get_a_422_naming_the_field(
    client: httpx.AsyncClient, model: str, body: dict[str, Any], fragment: str
) -> None:
    response = await predict(client, model, body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith(fragment), response.json()["error"]["message"]


async def test_nan_and_infinity_literals_are_refused(client: httpx.AsyncClient) -> None:
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = f'{{"inputs": [{{"x": {literal}}}]}}'.encode()
        response = await client.post("/v1/models/linear-regression/predict", content=body)
        assert response.status_code in (400, 422), response.text
        assert response.json()["error"]["type"] in {"invalid_json", "validation_error"}


@pytest.mark.parametrize(
    ("model", "tensor", "fragment"),
    [
        (
            "diabetes-mlp",
            {"name": "features", "shape": [1, 7], "datatype": "FP32", "data": [0] * 7},
            "must be FP32 [n, 8]",
        ),
        (
            "diabetes-mlp",
            {"name": "features", "shape": [1, 8], "datatype": "FP32", "data": [2] + [0] * 7},
            "features[0].pregnancies: 2 is outside",
        ),
        (
            "hello-rnn",
            {"name": "sequences", "shape": [1], "datatype": "BYTES", "data": ["hi"]},
            "character 'i' at position 1",
        ),
        ("hello-rnn", {"name": "sequences", "shape": [1, 5], "datatype": "FP32", "data": [0] * 5}, "must be BYTES"),
    ],
)
async def test_bad_v2_inputs_are_v2_400s(
    client: httpx.AsyncClient, model: str, tensor: dict[str, Any], fragment: str
) -> None:
    response = await client.post(f"/v2/models/{model}/infer", json={"inputs": [tensor]})
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


async def test_each_model_lists_its_own_request_schema(client: httpx.AsyncClient) -> None:
    info = (await client.get("/v1/models/diabetes-mlp")).json()
    row = info["request_schema"]["properties"]["inputs"]["items"]
    assert row["required"] == DIABETES_FEATURES and row["properties"]["glucose"]["maximum"] == 1.0
    example = info["request_example"]
    answered = await predict(client, "diabetes-mlp", example)
    assert answered.status_code == 200, answered.text
    assert math.isclose(sum(s["probability"] for s in answered.json()["predictions"][0]["top_k"]), 1.0, rel_tol=1e-5)
