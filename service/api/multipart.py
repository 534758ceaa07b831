"""The files under one field of a multipart/form-data body already in memory (the upload hot path).

Starlette's form parser spools each file into a SpooledTemporaryFile behind an UploadFile, which
costs a large share of a small upload's time. The upload route holds the whole body already (the
body limit bounds it) and wants only the files' bytes, so it runs python-multipart's parser (the one
Starlette uses) with callbacks that keep them. Anything out of the common case returns None, and the
route reads the form with Starlette's parser instead, which words the error.
"""

from typing import TYPE_CHECKING

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

if TYPE_CHECKING:  # python-multipart defines it for type checkers only
    from python_multipart.multipart import MultipartCallbacks

# Parts' names are compared as bytes: right for the charsets Starlette would decode them with here.
_PLAIN_CHARSETS = {b"utf-8", b"us-ascii", b"ascii"}
# Starlette's form parser refuses more files or fields than this (400); so does this one (None).
STARLETTE_MAX_PARTS = 1000


class _NotTheCommonCase(Exception):
    """Raised from a callback to stop parsing a form the caller will decline."""


class _FormFiles:
    """python-multipart callbacks that keep the files sent under ``field``, parsing headers as Starlette does."""

    def __init__(self, field: bytes, max_parts: int) -> None:
        self.field = field
        self.max_parts = max_parts
        self.files: list[bytes] = []
        self.complete = False  # the closing boundary was seen
        self._parts = 0
        self._keep = False
        self._data: list[bytes] = []
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""

    def callbacks(self) -> "MultipartCallbacks":
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > self.max_parts:  # bounded work on the event loop; FastAPI's route answers
            raise _NotTheCommonCase
        self._data, self._disposition, self._keep = [], b"", False

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._keep:
            self._data.append(data[start:end])

    def on_part_end(self) -> None:
        if self._keep:
            self.files.append(b"".join(self._data))

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:  # Starlette's 400
            raise _NotTheCommonCase
        self._keep = options[b"name"] == self.field
        if self._keep and b"filename" not in options:  # a text field under the files' name: FastAPI's 422
            raise _NotTheCommonCase

    def on_end(self) -> None:
        self.complete = True


def form_files(body: bytes, content_type: str, field: str, max_parts: int) -> list[bytes] | None:
    """The files under ``field``, in order; None unless the form is well formed, has at most
    ``max_parts`` parts, and holds at least one file and nothing but files under ``field``."""
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if (
        kind != b"multipart/form-data"
        or not boundary
        or params.get(b"charset", b"utf-8").lower() not in _PLAIN_CHARSETS
    ):
        return None
    form = _FormFiles(field.encode(), min(max_parts, STARLETTE_MAX_PARTS))
    try:
        parser = MultipartParser(boundary, form.callbacks())
        parser.write(body)
        parser.finalize()
    except (FormParserError, _NotTheCommonCase):
        return None
    return form.files if form.complete and form.files else None
