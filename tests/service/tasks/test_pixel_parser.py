"""The pixel fast path accepts nothing that the documented pydantic model would refuse.

Every test runs twice: with the whole body parsed by orjson, as small bodies are, and by simdjson, as large ones are.
"""

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from service.tasks.image_classification import DigitsPredictRequest
from service.tasks.pixel_parser import PixelRequest, parse_pixel_request

SIMDJSON_FROM = {"simdjson": 0, "orjson": 2**62}  # the body size from which simdjson parses
parser_in_use = {"simdjson_from": 0}


@pytest.fixture(autouse=True, scope="module", params=list(SIMDJSON_FROM))
def parser(request: pytest.FixtureRequest) -> Iterator[str]:
    """Module-scoped, so that hypothesis's examples share it."""
    parser_in_use["simdjson_from"] = SIMDJSON_FROM[request.param]
    yield request.param


def parse(body: bytes) -> PixelRequest | None:
    return parse_pixel_request(body, simdjson_from_bytes=parser_in_use["simdjson_from"])


ODD_VALUES = [256, -1, 1.5, 3.0, True, False, "7", None, [1], 2**70]


def grid(value: int = 0) -> list[list[Any]]:
    return [[value] * 28 for _ in range(28)]


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    images = []
    for _ in range(draw(st.integers(1, 3))):
        pixels = grid(draw(st.integers(0, 255)))
        mutation = draw(st.sampled_from(["none", "cell", "short_row", "long_grid", "extra_key", "null_other"]))
        if mutation == "cell":
            pixels[draw(st.integers(0, 27))][draw(st.integers(0, 27))] = draw(st.sampled_from(ODD_VALUES))
        elif mutation == "short_row":
            pixels[draw(st.integers(0, 27))].pop()
        elif mutation == "long_grid":
            pixels.append([0] * 28)
        image: dict[str, Any] = {"pixels": pixels}
        if mutation == "extra_key":
            image["colour"] = "red"
        elif mutation == "null_other":
            image["image_base64"] = None
        images.append(image)
    body: dict[str, Any] = {"images": images}
    if draw(st.booleans()):
        body["top_k"] = draw(st.sampled_from([1, 3, 10, 0, 11, True, 2.0, "3", None]))
    if draw(st.booleans()):
        body["model"] = draw(st.sampled_from([None, "digits-cnn", 5, ""]))
    if draw(st.integers(0, 9)) == 0:
        body["extra"] = 1
    return body


@settings(max_examples=300, deadline=None, derandomize=True)
@given(requests())
def test_fast_path_agrees_with_the_schema(body: dict[str, Any]) -> None:
    assert_agrees_with_the_schema(json.dumps(body).encode())


_EDIT_BYTES = b'[]{},:" 0123456789.-e'


@st.composite
def edited_bodies(draw: st.DrawFn) -> bytes:
    """A valid two-image body with a few bytes inserted, deleted or replaced: the raw-byte checks
    (the grid skeleton, the leaves) must not let through what the schema refuses."""
    body = bytearray(json.dumps({"images": [{"pixels": grid(7)}, {"pixels": grid(9)}], "model": "m[1]"}).encode())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(body) - 1))
        byte = draw(st.sampled_from(_EDIT_BYTES))
        edit = draw(st.sampled_from(["insert", "delete", "replace"]))
        if edit == "insert":
            body.insert(at, byte)
        elif edit == "delete":
            del body[at]
        else:
            body[at] = byte
    return bytes(body)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(edited_bodies())
def test_edited_bytes_agree_with_the_schema(raw: bytes) -> None:
    assert_agrees_with_the_schema(raw)


def assert_agrees_with_the_schema(raw: bytes) -> PixelRequest | None:
    """The fast path refuses what the schema refuses; what it takes, it reads as the schema does."""
    fast = parse(raw)
    try:
        documented = DigitsPredictRequest.model_validate_json(raw)
    except ValidationError:
        assert fast is None, "the fast path accepted a request the schema refuses"
        return fast
    if fast is not None:
        assert fast.top_k == documented.top_k and fast.model == documented.model
        expected = np.asarray([image.pixels for image in documented.images], dtype=np.uint8)
        assert np.array_equal(fast.pixels, expected)
    return fast


def _raw_request(cell: bytes, envelope: bytes = b'"top_k": 3') -> bytes:
    """A one-image request whose first pixel is spelled ``cell`` exactly as given."""
    rows = [b"[" + b",".join([b"0"] * 28) + b"]"] * 28
    rows[0] = b"[" + cell + b"," + b",".join([b"0"] * 27) + b"]"
    return b'{"images": [{"pixels": [' + b",".join(rows) + b"]}], " + envelope + b"}"


# (spelling, whether the fast path takes it): odd numbers, leaves and strings, spelled by hand.
RAW_SPELLINGS = [
    (_raw_request(cell), fast)
    for cell, fast in [(b"-0", True), (b"255", True), (b"1e2", False), (b"1E2", False), (b"100.0", False)]
    + [(b"2.5e1", False), (b"99999999999999999999999", False), (b"-99999999999999999999999", False)]
    + [(b"18446744073709551615", False), (b"{}", False), (b"[]", False), (b"[7]", False), (b'"7"', False)]
    + [(b"true", False), (b"null", False)]
] + [
    (_raw_request(b"7", envelope), fast)
    for envelope, fast in [
        (b'"model": "digits-cnn 7.5e1, [x]: {y}"', True),
        ('"model": "modèle"'.encode(), True),
        (b'"model": "digits\\u002dcnn"', False),
        (b'"model": "a\\"b"', True),
        (b'"top_k": 3, "to\\u0070_k": 2', False),
        (b'"top_k": 3, "top_k": 4', False),
        (b'"model": "a[b"', True),
        (b'"model": "a\\u005bb"', False),
        (b'"images": [], "top_k": 3', False),
        (b'\n "top_k"\t:\r\n 3 ', True),
    ]
]


@pytest.mark.parametrize(("raw", "takes_fast_path"), RAW_SPELLINGS)
def test_raw_spellings_agree_with_the_schema(raw: bytes, takes_fast_path: bool) -> None:
    assert (assert_agrees_with_the_schema(raw) is not None) == takes_fast_path


def _odd_grid(**cells: Any) -> list[list[Any]]:
    """A grid with pixels replaced, each named like ``r0c5``."""
    pixels = grid(7)
    for name, value in cells.items():
        row, column = name[1:].split("c")
        pixels[int(row)][int(column)] = value
    return pixels


ODD_IMAGES = {
    "lists as pixels keeping the integer count": {"pixels": _odd_grid(r0c0=[], r1c0=[1, 2])},
    "a list of one as a pixel": {"pixels": _odd_grid(r27c27=[7])},
    "an object as a pixel": {"pixels": _odd_grid(r3c3={})},
    "an integer past 64 bits": {"pixels": _odd_grid(r0c1=2**64)},
    "a flat grid": {"pixels": [7] * 784},
    "ragged rows keeping the integer count": {"pixels": [[7] * 27, [7] * 29] + grid(7)[2:]},
}


@pytest.mark.parametrize("image", ODD_IMAGES.values(), ids=ODD_IMAGES.keys())
def test_odd_images_fall_back(image: dict[str, Any]) -> None:
    raw = json.dumps({"images": [{"pixels": grid(7)}, image]}).encode()
    assert assert_agrees_with_the_schema(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        b'{"images": [{"pixels": GRID, "pixels": GRID}]}',
        b'{"images": [{"pixels": GRID}], "images": [{"pixels": GRID}, {"pixels": GRID}]}',
    ],
    ids=["image", "envelope"],
)
def test_duplicate_keys_fall_back(raw: bytes) -> None:
    """The schema reads the last of duplicate keys; rather than guess, the fast path declines."""
    assert parse(raw.replace(b"GRID", json.dumps(grid(7)).encode())) is None


@pytest.mark.parametrize(("images", "top_k"), [(1, 1), (4, 3), (64, 10)])
def test_plain_requests_take_the_fast_path(images: int, top_k: int) -> None:
    grids = [grid(n % 256) for n in range(images)]
    body = orjson.dumps({"images": [{"pixels": pixels} for pixels in grids], "top_k": top_k, "model": "digits-cnn"})
    fast = parse(body)
    assert fast is not None and (fast.top_k, fast.model) == (top_k, "digits-cnn")
    assert fast.pixels.dtype == np.uint8 and np.array_equal(fast.pixels, np.asarray(grids))
    assert fast.pixels.flags.writeable  # torch.from_numpy warns about read-only arrays


@pytest.mark.parametrize("body", [b"", b"[]", b"{not json", b'{"images": "x"}', b"\xff\xfe"])
def test_odd_bodies_fall_back(body: bytes) -> None:
    assert parse(body) is None
