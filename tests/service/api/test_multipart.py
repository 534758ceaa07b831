"""form_files reads what Starlette's form parser reads, and returns None for anything else."""

import asyncio

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message

from service.api.multipart import STARLETTE_MAX_PARTS, form_files

Files = list[tuple[str, tuple[str, bytes, str]]]


def encoded(files: Files, data: dict[str, str] | None = None) -> tuple[bytes, str]:
    """A multipart body as a client sends it, and its Content-Type (with a random boundary)."""
    request = httpx.Request("POST", "http://test/", files=files, data=data)
    return request.read(), request.headers["content-type"]


def starlette_files(body: bytes, content_type: str, field: str) -> list[bytes]:
    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def parse() -> list[bytes]:
        scope = {"type": "http", "method": "POST", "headers": [(b"content-type", content_type.encode())]}
        async with Request(scope, receive).form() as form:
            return [await item.read() for item in form.getlist(field) if isinstance(item, UploadFile)]

    return asyncio.run(parse())


def png(n: int) -> tuple[str, tuple[str, bytes, str]]:
    return ("files", (f"{n}.png", b"\x89PNG\r\n\x1a\n" + bytes([n]) * 40, "image/png"))


@pytest.mark.parametrize(
    ("files", "data"),
    [
        ([png(1)], None),
        ([png(1), png(2), png(3)], None),
        ([png(1), ("other", ("x.txt", b"not a digit", "text/plain"))], {"note": "ignored"}),
        ([("files", ("empty.png", b"", "image/png"))], None),  # the route judges the empty file
    ],
)
def test_files_are_starlettes(files: Files, data: dict[str, str] | None) -> None:
    body, content_type = encoded(files, data)
    got = form_files(body, content_type, "files", max_parts=64)
    assert got is not None
    assert got == starlette_files(body, content_type, "files")


@settings(max_examples=50, derandomize=True, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=5))
def test_any_file_contents_come_back_whole(contents: list[bytes]) -> None:
    """Including bytes that look like a boundary or a header."""
    files = [("files", (f"{i}.png", b"\r\n--" + data + b"\r\n\r\n", "image/png")) for i, data in enumerate(contents)]
    body, content_type = encoded(files)
    assert form_files(body, content_type, "files", max_parts=64) == [
        b"\r\n--" + data + b"\r\n\r\n" for data in contents
    ]


def test_header_names_are_case_insensitive() -> None:
    body, content_type = encoded([png(7)])
    body = body.replace(b"Content-Disposition", b"CONTENT-DISPOSITION")
    assert form_files(body, content_type, "files", max_parts=64) == starlette_files(body, content_type, "files")


BODY, CONTENT_TYPE = encoded([png(1), png(2)])


@pytest.mark.parametrize(
    ("body", "content_type", "max_parts"),
    [
        (BODY, "application/json", 64),
        (BODY, "multipart/form-data", 64),  # no boundary
        (BODY, CONTENT_TYPE + "; charset=utf-16", 64),
        (BODY[: len(BODY) // 2], CONTENT_TYPE, 64),  # truncated
        (BODY[: -len(b"--\r\n")], CONTENT_TYPE, 64),  # no closing boundary
        (b"garbage", CONTENT_TYPE, 64),
        (BODY, CONTENT_TYPE, 1),  # more parts than allowed
        (BODY.replace(b' name="files";', b"", 1), CONTENT_TYPE, 64),  # a part without a name: Starlette's 400
        (*encoded([png(1)], {"files": "text, not a file"}), 64),  # FastAPI's 422
        (*encoded([("file", ("1.png", b"x", "image/png"))]), 64),  # nothing under "files"
    ],
    ids=[
        "not-multipart",
        "no-boundary",
        "odd-charset",
        "truncated",
        "unclosed",
        "garbage",
        "too-many-parts",
        "nameless-part",
        "text-under-files",
        "no-files",
    ],
)
def test_anything_else_is_none(body: bytes, content_type: str, max_parts: int) -> None:
    assert form_files(body, content_type, "files", max_parts) is None


def test_starlettes_part_limit_applies_whatever_the_setting() -> None:
    body, content_type = encoded([png(1)] * (STARLETTE_MAX_PARTS + 1))
    assert form_files(body, content_type, "files", max_parts=4096) is None
