"""Surnames in the browser: countries as you type, and the normalised form the model saw."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("surname", "country", "normalized"),
    [("Nakamura", "Japanese", "nakamura"), ("Dvořák", "Czech", "dvorak")],
)
def test_typing_a_surname_shows_its_country(
    page: Page, output_dir: Path, surname: str, country: str, normalized: str
) -> None:
    page.get_by_label("Surname, in any script").press_sequentially(surname, delay=40)
    bars = page.locator("#names-bars")
    expect(bars).to_have_attribute("data-state", "done")
    expect(bars.locator("li").first).to_have_attribute("data-label", country)
    expect(bars.locator("li")).to_have_count(5)
    expect(page.locator("#name-normalized")).to_have_text(normalized)
    expect(page.locator("#names-timing")).to_contain_text("inference")
    page.screenshot(path=output_dir / f"names-{normalized}.png", full_page=True)
    if surname == "Nakamura":
        page.locator("#names").screenshot(path=output_dir / "playground-names.png")


def test_emptying_the_box_clears_the_answer(page: Page) -> None:
    box = page.get_by_label("Surname, in any script")
    box.press_sequentially("Rossi", delay=20)
    expect(page.locator("#names-bars li").first).to_have_attribute("data-label", "Italian")
    box.fill("")
    expect(page.locator("#names-bars li")).to_have_count(0)
    expect(page.locator("#name-normalized")).to_have_text("–")
