"""GET / and /playground: a page to try the models, and its static files under /static/playground/.

The page is plain HTML, CSS and JavaScript shipped in the package (service/static), so it works
offline and behind a firewall. Every response carries a strict Content-Security-Policy: the page
may load and call only its own origin, and no inline script or style runs, so a name or a label
that reaches the page from a model can never become code.
"""

from functools import cache
from importlib.resources import files

from fastapi import APIRouter, HTTPException
from starlette.responses import Response

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
)
STATIC_PREFIX = "/static/playground"
# The only files served, by name: a path that is not one of these is a 404, so no path escapes the folder.
ASSETS = {
    "playground.css": "text/css; charset=utf-8",
    "playground.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "pad.js": "text/javascript; charset=utf-8",
    "views.js": "text/javascript; charset=utf-8",
    "schema-form.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
PAGE = "index.html"
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    # Files change with the package, not while it runs; revalidating keeps an upgraded server's page fresh.
    "cache-control": "no-cache",
}

router = APIRouter(tags=["playground"], include_in_schema=False)


@cache
def static_file(name: str) -> bytes:
    """A file of service/static, read once per process (they are a few kilobytes)."""
    return (files("service") / "static" / name).read_bytes()


def _page() -> Response:
    return Response(static_file(PAGE), media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


@router.get("/")
async def playground_root() -> Response:
    return _page()


@router.get("/playground")
async def playground() -> Response:
    return _page()


@router.get(STATIC_PREFIX + "/{name}")
async def playground_asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404)  # answered as any unknown path is, in the error envelope
    return Response(static_file(name), media_type=media_type, headers=SECURITY_HEADERS)
