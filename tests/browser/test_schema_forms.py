"""Generated forms: every model that publishes a request schema can be tried from a form built from it."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

pytestmark = pytest.mark.browser


def test_every_model_with_a_schema_is_offered(page: Page, server: str) -> None:
    listed = httpx.get(f"{server}/v1/models", timeout=10).json()["models"]
    with_schema = {model["name"] for model in listed if model.get("request_schema")}
    assert with_schema, "GET /v1/models lists no request_schema: the generated forms have nothing to build from"
    options = page.locator("#other-model option").evaluate_all("options => options.map(o => o.value)")
    assert set(options) == with_schema


def test_a_form_generated_for_the_names_model_predicts(page: Page, output_dir: Path) -> None:
    assert page.locator("#other-model option").count() > 0, "no model publishes request_schema in GET /v1/models"
    page.select_option("#other-model", "names-gru")
    names = page.locator("#other-form textarea").first  # a list of strings: one per line
    expect(names).to_be_visible()
    names.fill("Nakamura")
    page.locator("#other-form").get_by_role("button", name="Predict").click()
    expect(page.locator("#other-form")).to_have_attribute("data-state", "done")
    expect(page.locator("#other-error")).to_be_hidden()
    expect(page.locator("#other-bars li").first).to_have_attribute("data-label", "Japanese")
    expect(page.locator("#other-result")).to_contain_text('"Japanese"')
    expect(page.locator("#other-timing")).to_contain_text("inference")
    page.locator("#other").screenshot(path=output_dir / "generated-form-names.png")


def test_a_form_generated_for_a_course_model_predicts(page: Page, output_dir: Path) -> None:
    """diabetes-mlp: its rows of eight named features come prefilled from its request_example."""
    page.select_option("#other-model", "diabetes-mlp")
    page.locator("#other-form").get_by_role("button", name="Predict").click()
    expect(page.locator("#other-form")).to_have_attribute("data-state", "done")
    expect(page.locator("#other-error")).to_be_hidden()
    label = page.locator("#other-bars li").first.get_attribute("data-label")
    assert label in {"diabetes", "no diabetes"}
    page.select_option("#other-model", "hello-rnn")
    strings = page.locator("#other-form textarea").first
    strings.fill("hello")
    page.locator("#other-form").get_by_role("button", name="Predict").click()
    expect(page.locator("#other-result")).to_contain_text('"ohlol"')
    page.locator("#other").screenshot(path=output_dir / "generated-form-hello.png")


# An imagined task kind with every kind of field: four features in, a value out. Its listing entry is added to
# the server's real /v1/models answer, and its predict call is answered here, to see the form the page
# builds for it and the body the page sends.
TABULAR = {
    "name": "iris-mlp",
    "version": 1,
    "versions": [1],
    "task": "tabular-classification",
    "labels": ["setosa", "versicolor", "virginica"],
    "metrics": {"test_accuracy": 96.7},
    "status": "ready",
    "request_schema": {
        "type": "object",
        "required": ["rows"],
        "properties": {
            "rows": {"type": "array", "items": {"$ref": "#/$defs/Row"}, "title": "Rows"},
            "features": {
                "type": "array",
                "items": {"type": "number"},
                "minItems": 4,
                "maxItems": 4,
                "title": "Features",
            },
            "top_k": {"type": "integer", "minimum": 1, "maximum": 3, "default": 3, "title": "Top K"},
            "calibrated": {"anyOf": [{"type": "boolean"}, {"type": "null"}], "title": "Calibrated"},
            "unit": {"enum": ["cm", "mm"], "title": "Unit"},
        },
        "$defs": {"Row": {"type": "object", "properties": {"id": {"type": "string"}}}},
    },
    "request_example": {"rows": [{"id": "a"}], "features": [5.1, 3.5, 1.4, 0.2], "top_k": 2, "unit": "mm"},
}


def test_a_new_task_kind_gets_a_form_from_its_schema(page: Page) -> None:
    sent: list[dict[str, Any]] = []

    def listing(route: Route) -> None:
        real = route.fetch()
        body = real.json()
        body["models"].append(TABULAR)
        route.fulfill(response=real, json=body)

    def predict(route: Route) -> None:
        sent.append(json.loads(route.request.post_data or "{}"))
        answer = {
            "model": "iris-mlp",
            "version": 1,
            "predictions": [
                {"top_k": [{"label": "setosa", "probability": 0.9}, {"label": "virginica", "probability": 0.1}]}
            ],
        }
        route.fulfill(json=answer, headers={"server-timing": 'queue;dur=0.1, inference;dur=0.2, batch_size;desc="1"'})

    page.route("**/v1/models", listing)
    page.route("**/v1/models/iris-mlp/predict", predict)
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    page.select_option("#other-model", "iris-mlp")
    form = page.locator("#other-form")
    expect(form.locator("input[type=number]")).to_have_count(5)  # four features and top_k
    expect(form.get_by_label("Features 3")).to_have_value("1.4")
    form.get_by_label("Features 3").fill("4.7")
    expect(form.get_by_label("Top K (optional)")).to_have_value("2")
    expect(form.get_by_label("Calibrated (optional)")).not_to_be_checked()
    expect(form.get_by_label("Unit (optional)")).to_have_value('"mm"')
    form.get_by_label("Rows").fill('[{"id": "b"}]')
    form.get_by_role("button", name="Predict").click()
    expect(page.locator("#other-bars li").first).to_have_attribute("data-label", "setosa")
    expect(page.locator("#other-timing")).to_contain_text("batch of 1")
    assert sent == [
        {"rows": [{"id": "b"}], "features": [5.1, 3.5, 4.7, 0.2], "top_k": 2, "calibrated": False, "unit": "mm"}
    ]


def test_a_form_with_bad_json_says_so_and_sends_nothing(page: Page) -> None:
    page.route(
        "**/v1/models",
        lambda route: route.fulfill(
            response=(real := route.fetch()), json={"models": [*real.json()["models"], TABULAR]}
        ),
    )
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    page.select_option("#other-model", "iris-mlp")
    page.locator("#other-form").get_by_label("Rows").fill("[{")
    page.locator("#other-form").get_by_role("button", name="Predict").click()
    expect(page.locator("#other-error")).to_contain_text("rows: not valid JSON")
