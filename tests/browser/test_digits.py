"""Digits in the browser: drawn strokes, undo and clear, dropped and picked files, the 28x28 preview."""

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from artifacts import ModelStore
from tests.browser.conftest import PageWatch, watched_page
from tests.browser.drawing import (
    SEVEN,
    STRAY,
    ZERO,
    draw,
    draw_by_touch,
    ink_pixels,
    pad_png_base64,
    preview_pixels,
)
from tests.paths import MODELS_STORE
from tests.service.images import dark_on_light

pytestmark = pytest.mark.browser


def top_bar(page: Page) -> str:
    """The label of the top bar once the newest drawing is answered."""
    expect(page.locator("#digits-bars")).to_have_attribute("data-state", "done")
    return page.locator("#digits-bars li").first.get_attribute("data-label") or ""


def expect_top(page: Page, label: str) -> None:
    expect(page.locator("#digits-bars")).to_have_attribute("data-state", "done")
    expect(page.locator("#digits-bars li").first).to_have_attribute("data-label", label)


@pytest.fixture(scope="module")
def sure_digits() -> Iterator[dict[int, np.ndarray]]:
    """One real MNIST digit per class that the committed CNN is sure of, from its golden file."""
    artifact = ModelStore(MODELS_STORE).load("digits-cnn")
    assert artifact.golden.pixels is not None
    probabilities = artifact.golden.probabilities
    digits: dict[int, np.ndarray] = {}
    for pixels, row in zip(artifact.golden.pixels.numpy(), probabilities, strict=True):
        label = int(row.argmax())
        if float(row.max()) > 0.95 and label not in digits:
            digits[label] = pixels
    yield digits


def test_a_drawn_seven_reads_seven(page: Page, output_dir: Path) -> None:
    draw(page, SEVEN)
    expect_top(page, "7")
    expect(page.locator("#digits-bars li")).to_have_count(10)
    expect(page.locator("#digits-timing")).to_contain_text("inference")
    expect(page.locator("#digits-timing")).to_contain_text("batch of 1")
    expect(page.locator("#digits-card")).to_contain_text("Test accuracy")
    page.screenshot(path=output_dir / "digits-seven.png", full_page=True)
    page.locator("#digits").screenshot(path=output_dir / "playground-digits.png")


def test_a_drawn_zero_reads_zero(page: Page, output_dir: Path) -> None:
    draw(page, ZERO)
    expect_top(page, "0")
    page.screenshot(path=output_dir / "digits-zero.png", full_page=True)


@pytest.fixture
def touch_page(browser: Browser, server: str) -> Iterator[Page]:
    """The playground in a context with a touch screen."""
    for page, _ in watched_page(browser, server, has_touch=True):
        page.goto("/")
        page.wait_for_selector("body[data-ready=true]")
        yield page


def test_a_seven_drawn_with_a_finger_reads_seven(touch_page: Page) -> None:
    touch_page.evaluate(
        "document.getElementById('pad').addEventListener('pointerdown', e => { window.kind = e.pointerType; })"
    )
    draw_by_touch(touch_page, SEVEN)
    assert touch_page.evaluate("window.kind") == "touch"
    expect_top(touch_page, "7")


def test_clear_empties_the_pad_and_the_answer(page: Page, output_dir: Path) -> None:
    draw(page, SEVEN)
    expect_top(page, "7")
    page.get_by_role("button", name="Clear").click()
    expect(page.locator("#digits-bars li")).to_have_count(0)
    expect(page.locator("#digits-source")).to_have_text("Draw a digit to see what the model thinks.")
    assert ink_pixels(page) == 0
    page.screenshot(path=output_dir / "digits-cleared.png", full_page=True)
    draw(page, ZERO)  # the pad still works after a clear
    expect_top(page, "0")


def test_undo_removes_the_last_stroke(page: Page) -> None:
    draw(page, SEVEN)
    expect_top(page, "7")
    seven_alone = pad_png_base64(page)
    draw(page, STRAY)
    assert pad_png_base64(page) != seven_alone
    page.get_by_role("button", name="Undo").click()
    assert pad_png_base64(page) == seven_alone
    expect_top(page, "7")


def test_the_model_picker_lists_every_image_model(page: Page, server: str) -> None:
    listed = httpx.get(f"{server}/v1/models", timeout=10).json()["models"]
    image_models = {m["name"] for m in listed if m["task"] == "image-classification"}
    options = page.locator("#digits-model option").evaluate_all("options => options.map(o => o.value)")
    assert set(options) == image_models
    page.select_option("#digits-model", "digits-mlp")
    expect(page.locator("#digits-card")).to_contain_text("digits-mlp")
    draw(page, SEVEN)
    expect_top(page, "7")


def test_a_dropped_png_reads_its_digit(page: Page, sure_digits: dict[int, np.ndarray], output_dir: Path) -> None:
    png = base64.b64encode(dark_on_light(sure_digits[2])).decode()
    transfer = page.evaluate_handle(
        """([data, name]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: 'image/png'}));
            return transfer;
        }""",
        [png, "two.png"],
    )
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})
    expect_top(page, "2")
    expect(page.locator("#digits-source")).to_contain_text("two.png: 2")
    page.screenshot(path=output_dir / "digits-dropped.png", full_page=True)


def test_a_picked_file_reads_its_digit(page: Page, sure_digits: dict[int, np.ndarray], tmp_path: Path) -> None:
    path = tmp_path / "five.png"
    path.write_bytes(dark_on_light(sure_digits[5]))
    page.set_input_files("#digit-files", path)
    expect_top(page, "5")
    expect(page.locator("#digits-source")).to_contain_text("five.png: 5")


def test_a_file_without_ink_shows_the_service_message(
    page: Page, watched: tuple[Page, PageWatch], tmp_path: Path
) -> None:
    watched[1].expected.append("the server responded with a status of 400")
    path = tmp_path / "blank.png"
    Image.new("L", (40, 40), 255).save(path)
    page.set_input_files("#digit-files", path)
    error = page.locator("#digits-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("ink")


def test_the_preview_shows_what_the_api_returns_for_the_drawing(page: Page, server: str, output_dir: Path) -> None:
    draw(page, SEVEN)
    expect_top(page, "7")
    model = page.locator("#digits-model").input_value()
    answer = httpx.post(
        f"{server}/v1/digits/predict/upload",
        params={"top_k": 1, "model": model, "return_preprocessed": "true"},
        files={"files": ("drawing.png", base64.b64decode(pad_png_base64(page)), "image/png")},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    prediction = answer.json()["predictions"][0]
    assert "preprocessed" in prediction, "the API does not return 'preprocessed' for return_preprocessed=true"
    expect(page.locator("#preview")).to_have_attribute("data-shown", "true")
    shown = preview_pixels(page)
    assert shown == prediction["preprocessed"]
    assert sum(map(sum, shown)) > 0
    page.screenshot(path=output_dir / "digits-preview.png", full_page=True)
