"""The playground page: served at / and /playground with a strict CSP, every asset found, small.

The page's routes need no models, so the app is used without its lifespan: nothing loads.
"""

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import httpx
import pytest

from service.api.playground import CONTENT_SECURITY_POLICY, STATIC_PREFIX
from service.app import create_app
from tests.service.conftest import make_settings

pytestmark = pytest.mark.asyncio

PAGE_WEIGHT_LIMIT = 150 * 1024
JS_IMPORT = re.compile(r"""^import\s.*?\sfrom\s+"\./([\w.-]+)";""", re.MULTILINE | re.DOTALL)


class PageParts(HTMLParser):
    """What a CSP of `default-src 'self'` would block, and the files the page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.inline_scripts = 0
        self.style_blocks = 0
        self.inline_attributes: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.inline_attributes += [f"{tag}[{name}]" for name in attributes if name == "style" or name.startswith("on")]
        if tag == "script":
            self._in_script = True
            if attributes.get("src"):
                self.assets.append(str(attributes["src"]))
        elif tag == "style":
            self.style_blocks += 1
        elif tag == "link" and attributes.get("href"):
            self.assets.append(str(attributes["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


@pytest.fixture(scope="module")
async def page_client() -> AsyncIterator[httpx.AsyncClient]:
    # API keys set: the page itself stays public; only /v1 asks for a key.
    app = create_app(make_settings(api_keys=["page-test-key"]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tinyserve.test") as client:
        yield client


def parse_page(html: str) -> PageParts:
    parts = PageParts()
    parts.feed(html)
    return parts


@pytest.mark.parametrize("path", ["/", "/playground"])
async def test_page_is_served_with_a_strict_csp(page_client: httpx.AsyncClient, path: str) -> None:
    response = await page_client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY and "unsafe-eval" not in CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert '<canvas id="pad" width="280" height="280"' in response.text
    assert "<title>tinyserve playground</title>" in response.text


async def test_page_has_nothing_inline_that_the_csp_blocks(page_client: httpx.AsyncClient) -> None:
    parts = parse_page((await page_client.get("/")).text)
    assert parts.inline_scripts == 0
    assert parts.style_blocks == 0
    assert parts.inline_attributes == []
    assert all(asset.startswith(STATIC_PREFIX + "/") for asset in parts.assets), parts.assets


async def all_assets(client: httpx.AsyncClient) -> dict[str, httpx.Response]:
    """Every file the page loads: its links and scripts, and the modules those scripts import."""
    pending = parse_page((await client.get("/")).text).assets
    seen: dict[str, httpx.Response] = {}
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen[path] = response = await client.get(path)
        if path.endswith(".js"):
            pending += [f"{STATIC_PREFIX}/{name}" for name in JS_IMPORT.findall(response.text)]
    return seen


async def test_every_asset_is_served_with_its_type(page_client: httpx.AsyncClient) -> None:
    assets = await all_assets(page_client)
    assert {path.rsplit("/", 1)[1] for path in assets} >= {
        "playground.css",
        "playground.js",
        "api.js",
        "pad.js",
        "views.js",
        "schema-form.js",
        "favicon.svg",
    }
    expected_types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for path, response in assets.items():
        assert response.status_code == 200, (path, response.text)
        suffix = path[path.rindex(".") :]
        assert response.headers["content-type"].startswith(expected_types[suffix]), path
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


async def test_page_weight_is_under_the_limit(page_client: httpx.AsyncClient) -> None:
    page = await page_client.get("/")
    assets = await all_assets(page_client)
    weight = len(page.content) + sum(len(response.content) for response in assets.values())
    assert weight < PAGE_WEIGHT_LIMIT, f"the page and its files weigh {weight} bytes"


async def test_scripts_call_only_the_same_origin(page_client: httpx.AsyncClient) -> None:
    assets = await all_assets(page_client)
    code = {path: response for path, response in assets.items() if path.endswith((".js", ".css"))}
    assert code
    for path, response in code.items():
        assert "http://" not in response.text and "https://" not in response.text, path


@pytest.mark.parametrize(
    "path",
    [
        f"{STATIC_PREFIX}/missing.js",
        f"{STATIC_PREFIX}/index.html.bak",
        f"{STATIC_PREFIX}/..%2Fapi%2Fplayground.py",
        f"{STATIC_PREFIX}/../api/playground.py",
    ],
)
async def test_unknown_files_are_404_in_the_error_envelope(page_client: httpx.AsyncClient, path: str) -> None:
    response = await page_client.get(path)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["type"] == "not_found"
    assert "import" not in response.text  # no source file leaks out


async def test_v1_still_needs_the_key_beside_the_public_page(page_client: httpx.AsyncClient) -> None:
    response = await page_client.get("/v1/models")
    assert response.status_code == 401, response.text
    assert response.json()["error"]["message"].startswith("missing API key")
