"""JSON responses serialised with orjson (numpy floats and ints included)."""

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

CONTENT_TYPE = (b"content-type", b"application/json")


class JSONBytesResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        """Starlette's, without its checks for bodiless statuses and caller-set length or type: a JSON
        answer always has a body of this type, and this runs on every prediction."""
        raw = [(b"content-length", b"%d" % len(self.body)), CONTENT_TYPE]
        if headers:
            raw += [(key.lower().encode("latin-1"), value.encode("latin-1")) for key, value in headers.items()]
        self.raw_headers = raw
