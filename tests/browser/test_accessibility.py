"""Accessibility: axe-core finds no serious or critical violation; every control is reachable by keyboard."""

from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Page, expect

from tests.browser.drawing import SEVEN, draw

pytestmark = pytest.mark.browser

BLOCKING = {"serious", "critical"}


def blocking_violations(page: Page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(str(node["target"]) for node in violation["nodes"])
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING
    ]


def test_axe_finds_no_serious_violation_on_the_empty_page(page: Page) -> None:
    assert blocking_violations(page) == []


def test_axe_finds_no_serious_violation_with_answers_shown(page: Page, output_dir: Path) -> None:
    draw(page, SEVEN)
    expect(page.locator("#digits-bars li").first).to_have_attribute("data-label", "7")
    page.get_by_label("Surname, in any script").press_sequentially("Nakamura", delay=20)
    expect(page.locator("#names-bars li").first).to_have_attribute("data-label", "Japanese")
    assert blocking_violations(page) == []
    page.screenshot(path=output_dir / "answers.png", full_page=True)


def test_every_control_is_reachable_with_the_tab_key(page: Page) -> None:
    controls = ["api-key", "digits-model", "pad-undo", "pad-clear", "digit-files", "names-model", "name-input"]
    reached: list[str] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement ? document.activeElement.id : ''"))
    missing = [control for control in controls if control not in reached]
    assert missing == [], f"not reached with Tab: {missing}; reached {reached}"


def test_the_keyboard_alone_clears_the_pad(page: Page) -> None:
    draw(page, SEVEN)
    expect(page.locator("#digits-bars li").first).to_have_attribute("data-label", "7")
    page.locator("#pad-clear").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#digits-bars li")).to_have_count(0)
