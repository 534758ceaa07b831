"""The playground in a real browser: Debian's chromium driven by Playwright, against `tinyserve serve`.

Playwright's own browser download cannot work here, so the browser is the system's chromium
(TINYSERVE_CHROMIUM, default /usr/bin/chromium). Without it these tests skip with a reason;
CI sets TINYSERVE_REQUIRE_BROWSER=1, which turns that skip into a failure.

Every page is watched: a console error, an uncaught exception or a request that leaves the
server's origin fails the test that caused it.
"""

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Request, ViewportSize, sync_playwright

from tests.paths import PROJECT_ROOT
from tests.servers import running_server

CHROMIUM = os.environ.get("TINYSERVE_CHROMIUM", "/usr/bin/chromium")
OUTPUT = Path(os.environ.get("TINYSERVE_BROWSER_OUTPUT", PROJECT_ROOT / "build" / "browser"))
VIEWPORT: ViewportSize = {"width": 1280, "height": 1000}


@pytest.fixture(scope="session")
def chromium_path() -> str:
    found = shutil.which(CHROMIUM)
    if found is None:
        reason = f"no chromium at {CHROMIUM!r}: apt-get install -y chromium (or set TINYSERVE_CHROMIUM)"
        if os.environ.get("TINYSERVE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"TINYSERVE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return found


# Module scope, not session: while Playwright's sync API is open it holds a running event loop in
# this thread, and pytest-asyncio's tests after these modules could not start theirs.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright, chromium_path: str) -> Iterator[Browser]:
    # Chromium's sandbox refuses to start as root (CI and these machines run as root).
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    launched = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=args)
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    """Every committed model, served by a real process on a free loopback port."""
    with running_server() as (base, _):
        yield base


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT


@dataclass
class PageWatch:
    """What a page did that it must not: console errors, uncaught exceptions, requests off its origin."""

    origin: str
    errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    # Console lines a test causes on purpose (the browser logs every 401 a fetch receives).
    expected: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(text in message.text for text in self.expected):
            self.errors.append(f"console: {message.text}")

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"uncaught: {error}")

    def on_request(self, request: Request) -> None:
        self.requests.append(request.url)
        parts = urlsplit(request.url)
        if parts.scheme not in {"data", "blob"} and f"{parts.scheme}://{parts.netloc}" != self.origin:
            self.foreign_requests.append(request.url)


def watched_page(browser: Browser, base: str, *, has_touch: bool = False) -> Iterator[tuple[Page, PageWatch]]:
    # A fresh context per test: its own sessionStorage, so no key carries over.
    context = browser.new_context(viewport=VIEWPORT, base_url=base, has_touch=has_touch)
    page = context.new_page()
    page.set_default_timeout(20_000)
    watch = PageWatch(origin=base)
    page.on("console", watch.on_console)
    page.on("pageerror", watch.on_page_error)
    page.on("request", watch.on_request)
    try:
        yield page, watch
    finally:
        context.close()
    assert watch.foreign_requests == [], "the page called outside its origin"
    assert watch.errors == [], "the page logged errors"


@pytest.fixture
def watched(browser: Browser, server: str) -> Iterator[tuple[Page, PageWatch]]:
    yield from watched_page(browser, server)


@pytest.fixture
def page(watched: tuple[Page, PageWatch]) -> Page:
    """The playground, loaded, its models listed."""
    opened, _ = watched
    opened.goto("/")
    opened.wait_for_selector("body[data-ready=true]")
    return opened
