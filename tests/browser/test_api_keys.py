"""With TINYSERVE_API_KEYS set the page asks for a key, shows the 401 message, and works with the key."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PageWatch, watched_page
from tests.browser.drawing import SEVEN, draw
from tests.servers import running_server

pytestmark = pytest.mark.browser

KEY = "playground-key-7f3a"


@pytest.fixture(scope="module")
def secured_server() -> Iterator[str]:
    with running_server(TINYSERVE_API_KEYS=KEY, TINYSERVE_MODELS="digits-cnn,names-gru") as (base, _):
        yield base


@pytest.fixture
def secured(browser: Browser, secured_server: str) -> Iterator[tuple[Page, PageWatch]]:
    for page, watch in watched_page(browser, secured_server):
        watch.expected.append("the server responded with a status of 401")  # the browser logs each 401
        page.goto("/")
        page.wait_for_selector("body[data-ready=true]")
        yield page, watch


def use_key(page: Page, key: str) -> None:
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Use key").click()


def test_the_page_asks_for_a_key(secured: tuple[Page, PageWatch], output_dir: Path) -> None:
    page, _ = secured
    expect(page.locator("#service-status")).to_contain_text("missing API key")
    expect(page.locator("#key-form")).to_have_class("key-form needed")
    page.screenshot(path=output_dir / "key-asked.png", full_page=True)


def test_a_wrong_key_shows_the_401_message(secured: tuple[Page, PageWatch], output_dir: Path) -> None:
    page, _ = secured
    use_key(page, "not-the-key")
    expect(page.locator("#service-status")).to_contain_text("invalid API key (HTTP 401)")
    expect(page.locator("#digits-model option")).to_have_count(0)
    page.screenshot(path=output_dir / "key-wrong.png", full_page=True)


def test_the_right_key_works_and_stays_out_of_urls(secured: tuple[Page, PageWatch], output_dir: Path) -> None:
    page, watch = secured
    use_key(page, KEY)
    expect(page.locator("#service-status")).to_have_text("2 of 2 models ready on cpu.")
    expect(page.locator("#key-form")).to_have_class("key-form")
    draw(page, SEVEN)
    expect(page.locator("#digits-bars")).to_have_attribute("data-state", "done")
    expect(page.locator("#digits-bars li").first).to_have_attribute("data-label", "7")
    page.get_by_label("Surname, in any script").press_sequentially("Nakamura", delay=20)
    expect(page.locator("#names-bars li").first).to_have_attribute("data-label", "Japanese")
    assert page.evaluate("sessionStorage.getItem('tinyserve.apiKey')") == KEY
    assert page.evaluate("localStorage.length") == 0
    assert watch.requests and not [url for url in watch.requests if KEY in url]
    page.screenshot(path=output_dir / "key-accepted.png", full_page=True)


def test_a_key_lasts_for_the_tab_only(secured: tuple[Page, PageWatch]) -> None:
    page, _ = secured
    use_key(page, KEY)
    expect(page.locator("#service-status")).to_contain_text("models ready")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#service-status")).to_contain_text("models ready")  # same tab: sessionStorage
    other = page.context.new_page()  # a new tab starts without it
    other.goto("/")
    other.wait_for_selector("body[data-ready=true]")
    expect(other.locator("#service-status")).to_contain_text("missing API key")
    other.close()
