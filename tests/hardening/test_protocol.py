"""Unknown routes and methods, API keys, request ids and oversized headers, in-process and over TCP."""

import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.requests import Request

from service.api import deps
from service.api.errors import UnauthorizedError
from service.api.middleware import MAX_HEADER_BYTES
from service.settings import Settings
from tests.hardening import tally
from tests.hardening.conftest import StillServes, assert_error
from tests.servers import running_server
from tests.service.conftest import make_settings, running_app

ROUTES = [
    ("GET", "/nope", 404, "not_found", "no route /nope; see /docs for the API"),
    ("GET", "/v1", 404, "not_found", "no route /v1"),
    ("GET", "/v1/digits", 404, "not_found", "no route /v1/digits"),
    ("POST", "/v1/names/predict/extra", 404, "not_found", "no route /v1/names/predict/extra"),
    ("GET", "/v1/models/../../etc/passwd", 404, "not_found", "no route /etc/passwd"),
    ("GET", "/v1/models/..%2F..%2Fetc%2Fpasswd", 404, "not_found", "no route /v1/models/../../etc/passwd"),
    ("GET", "/v1/models/%00", 404, "model_not_found", "is not served here"),
    ("GET", "/v1/models/" + "a" * 10_000, 404, "model_not_found", "is not served here"),
    ("GET", "/v1/digits/predict", 405, "method_not_allowed", "GET is not allowed on /v1/digits/predict"),
    ("PUT", "/v1/names/predict", 405, "method_not_allowed", "PUT is not allowed on /v1/names/predict"),
    ("DELETE", "/v1/models", 405, "method_not_allowed", "DELETE is not allowed on /v1/models"),
    ("PATCH", "/v1/models/digits-cnn", 405, "method_not_allowed", "PATCH is not allowed"),
    ("OPTIONS", "/v1/names/predict", 405, "method_not_allowed", "OPTIONS is not allowed"),
    ("TRACE", "/v1/names/predict", 405, "method_not_allowed", "TRACE is not allowed"),
    ("BREW", "/v1/names/predict", 405, "method_not_allowed", "BREW is not allowed"),
    ("POST", "/health/live", 405, "method_not_allowed", "POST is not allowed on /health/live"),
]


@pytest.mark.parametrize(
    ("method", "path", "status", "kind", "fragment"), ROUTES, ids=[f"{m} {p[:40]}" for m, p, *_ in ROUTES]
)
async def test_unknown_routes_and_methods(
    hardened: httpx.AsyncClient,
    still_serves: StillServes,
    method: str,
    path: str,
    status: int,
    kind: str,
    fragment: str,
) -> None:
    response = await hardened.request(method, path)
    assert_error(response, status, kind, fragment, "protocol: routes and methods")
    await still_serves()


async def test_a_trailing_slash_redirects_to_the_route(hardened: httpx.AsyncClient) -> None:
    response = await hardened.post("/v1/names/predict/", json={"names": ["Rossi"]})
    tally.record("protocol: routes and methods", response.status_code)
    assert response.status_code == 307  # method and body are kept by clients that follow it
    assert response.headers["location"].endswith("/v1/names/predict")


KEY = "s3cret-key-A"


def on_the_wire(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """Header values as latin-1 bytes, so UTF-8 sequences travel as the raw octets a client would send."""
    return [(name.encode(), value.encode("latin-1")) for name, value in headers.items()]


@pytest.fixture(scope="module")
async def secured() -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(make_settings(api_keys=[KEY, "other-key"], models=["names-gru"])) as (_, client):
        yield client


KEYS = [
    ("no key", {}, "missing API key"),
    ("empty bearer", {"Authorization": "Bearer "}, "missing API key"),
    ("wrong key", {"Authorization": "Bearer wrong"}, "invalid API key"),
    ("last character differs", {"Authorization": f"Bearer {KEY[:-1]}B"}, "invalid API key"),
    ("last character differs, X-API-Key", {"X-API-Key": f"{KEY[:-1]}B"}, "invalid API key"),
    ("first character differs", {"X-API-Key": f"t{KEY[1:]}"}, "invalid API key"),
    ("a prefix of the key", {"X-API-Key": KEY[:-1]}, "invalid API key"),
    ("the key plus a character", {"X-API-Key": KEY + "x"}, "invalid API key"),
    ("two keys glued", {"X-API-Key": KEY + "other-key"}, "invalid API key"),
    ("upper-cased key", {"X-API-Key": KEY.upper()}, "invalid API key"),
    ("Basic scheme", {"Authorization": f"Basic {KEY}"}, "missing API key"),
    ("non-ASCII key", {"X-API-Key": "s3cret-kéy-A".encode().decode("latin-1")}, "invalid API key"),
    ("a 10 KB key", {"X-API-Key": "k" * 10_000}, "invalid API key"),
]


@pytest.mark.parametrize(("headers", "fragment"), [c[1:] for c in KEYS], ids=[c[0] for c in KEYS])
async def test_missing_or_wrong_api_key_is_401(
    secured: httpx.AsyncClient, headers: dict[str, str], fragment: str
) -> None:
    response = await secured.post("/v1/names/predict", json={"names": ["Rossi"]}, headers=on_the_wire(headers))
    assert_error(response, 401, "unauthorized", fragment, "protocol: API keys")
    assert response.headers["www-authenticate"] == "Bearer"
    ok = await secured.post("/v1/names/predict", json={"names": ["Rossi"]}, headers={"X-API-Key": KEY})
    assert ok.status_code == 200


async def test_a_key_in_the_query_string_is_not_accepted(secured: httpx.AsyncClient) -> None:
    response = await secured.post(f"/v1/names/predict?api_key={KEY}", json={"names": ["Rossi"]})
    assert_error(response, 401, "unauthorized", "missing API key", "protocol: API keys")


@pytest.mark.parametrize(
    "given",
    ["<script>alert(1)</script>", "a" * 129, "has spaces", "line\tbreak", "ünïcode".encode().decode("latin-1")],
    ids=["markup", "129 characters", "spaces", "tab", "non-ASCII"],
)
async def test_an_unsafe_request_id_is_replaced(hardened: httpx.AsyncClient, given: str) -> None:
    response = await hardened.get("/v1/models/none", headers=on_the_wire({"X-Request-ID": given}))
    assert_error(response, 404, "model_not_found", "is not served here", "protocol: request ids")
    replaced = response.headers["x-request-id"]
    assert replaced != given and len(replaced) == 32 and replaced.isalnum()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"X-Big": "a" * (MAX_HEADER_BYTES - 1024)}, 200),
        ({"X-Big": "a" * (MAX_HEADER_BYTES + 1)}, 431),
        ({f"X-H{i}": "v" for i in range(4000)}, 431),
        ({"Authorization": "Bearer " + "k" * 100_000}, 431),
    ],
    ids=["15 KB header", "one 16 KB header", "4,000 headers", "a 100 KB API key"],
)
async def test_oversized_headers_in_process(
    hardened: httpx.AsyncClient, still_serves: StillServes, headers: dict[str, str], status: int
) -> None:
    response = await hardened.post("/v1/names/predict", json={"names": ["Rossi"]}, headers=headers)
    if status == 200:
        tally.record("protocol: oversized headers", response.status_code)
        assert response.status_code == 200, response.text
    else:
        assert_error(response, 431, "headers_too_large", "byte limit", "protocol: oversized headers")
    await still_serves()


# ---- over TCP, against `tinyserve serve` (uvicorn with httptools) ----


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server(TINYSERVE_MODELS="names-gru") as (base, _):
        yield base


def raw_exchange(base: str, request: bytes) -> tuple[int, bytes]:
    """Send raw bytes, read one response; returns (status, body)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
            0,
        )
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(head.split(b" ")[1]), body


POST = b"POST /v1/names/predict HTTP/1.1\r\nHost: tinyserve\r\nContent-Type: application/json\r\nContent-Length: 20\r\n"
BODY = b'{"names": ["Rossi"]}'


@pytest.mark.parametrize(
    ("extra_headers", "status"),
    [
        (b"X-Big: " + b"a" * 1_000_000 + b"\r\n", 431),
        (b"".join(b"X-H%d: v\r\n" % i for i in range(20_000)), 431),
    ],
    ids=["a 1 MB header", "20,000 headers"],
)
def test_oversized_headers_over_tcp(server: str, extra_headers: bytes, status: int) -> None:
    """httptools has no header limit of its own; the app refuses them with the JSON envelope."""
    got, body = raw_exchange(server, POST + extra_headers + b"\r\n" + BODY)
    tally.record("protocol: oversized headers", got)
    assert got == status
    assert b'"type":"headers_too_large"' in body
    assert httpx.post(f"{server}/v1/names/predict", json={"names": ["Rossi"]}).status_code == 200


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS ClientHello to a plain-HTTP port
        b"GET /" + b"a" * 1_000_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",  # a 1 MB URL
        b"POST /v1/names/predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
        b"POST /v1/names/predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
        b"POST /v1/names/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
        b"GET /health/live HTTP/1.1\r\nHost: x\r\nBad Header Name: v\r\n\r\n",
    ],
    ids=["TLS to HTTP", "1 MB URL", "non-numeric length", "negative length", "length and chunked", "space in name"],
)
def test_malformed_http_is_400_from_the_server(server: str, request_bytes: bytes) -> None:
    """uvicorn answers these itself (plain-text 400) before the app sees them; the server keeps serving."""
    status, _ = raw_exchange(server, request_bytes)
    tally.record("protocol: malformed HTTP", status)
    assert status == 400
    assert httpx.post(f"{server}/v1/names/predict", json={"names": ["Rossi"]}).status_code == 200


def key_request(presented: str) -> Request:
    return Request({"type": "http", "headers": [(b"x-api-key", presented.encode())]})


def test_every_configured_key_is_accepted_and_nothing_else() -> None:
    """Each key of several is accepted wherever it is in the list; near misses (a prefix, one character
    off, an extension, another key's case) are refused with the same 401 message."""
    keys = ["first-key", KEY, "third-key"]
    settings = make_settings(api_keys=keys)
    for presented in keys:
        assert deps.require_api_key(key_request(presented), settings) is None
    for presented in [KEY[:-1], f"{KEY[:-1]}B", f"{KEY}x", "FIRST-KEY", "third-key ", "-"]:
        with pytest.raises(UnauthorizedError) as refused:
            deps.require_api_key(key_request(presented), settings)
        assert str(refused.value) == str(wrong_key_error(settings))


def wrong_key_error(settings: Settings) -> UnauthorizedError:
    with pytest.raises(UnauthorizedError) as refused:
        deps.require_api_key(key_request("certainly-not-a-key"), settings)
    return refused.value


def test_api_keys_do_not_show_in_settings_or_their_repr() -> None:
    settings = make_settings(api_keys=[KEY])
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())
