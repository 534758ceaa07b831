"""A fast path for the commonest request: digits as pixel grids.

pydantic validates 784 integers per image one by one, which costs more than the model's forward
pass. A few images are parsed by orjson and turned into bytes one row at a time; larger
bodies by simdjson, which builds no Python object per integer and hands each grid's
integers over as one buffer. A few checks on the raw
bytes decide what neither parser tells. The fast path accepts only requests that are
unmistakably valid and returns None for anything else, which then goes through the
documented pydantic model and gets its exact error message: both paths accept the same
requests (a property test holds them to it).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from typing import Any, cast

import numpy as np
import orjson
import simdjson

# From this body size (about 8 images) simdjson. Below it orjson is as fast, and a simdjson parse
# slows the forward pass that follows it (cause unknown): for one image that costs more than the parse.
SIMDJSON_FROM_BYTES = 20_000
MAX_TOP_K = 10  # one entry per digit class
DEFAULT_TOP_K = 3

_ENVELOPE_KEYS = frozenset({"images", "top_k", "model"})
_SIDE = 28
# The bytes a JSON document of integers, lists and objects is made of, strings aside.
_INTEGER_JSON_BYTES = b"0123456789-,:[]{} \t\r\n"
_KEYS_PER_IMAGE = len(b'"pixels"')
_NOT_SKELETON_BYTES = bytes(byte for byte in range(256) if byte not in b"[]{}:,")


@dataclass(frozen=True)
class PixelRequest:
    pixels: np.ndarray  # uint8 (N, 28, 28)
    top_k: int
    model: str | None


def parse_pixel_request(body: bytes, simdjson_from_bytes: int = SIMDJSON_FROM_BYTES) -> PixelRequest | None:
    """The request if it is unmistakably valid pixel grids with at most top_k and model beside them;
    None for anything else. Bodies of ``simdjson_from_bytes`` or more are parsed by simdjson."""
    try:
        return _parse_large(body) if len(body) >= simdjson_from_bytes else _parse_small(body)
    except (ValueError, TypeError, RuntimeError):  # not JSON, or an integer past 64 bits: the schema decides
        return None


def _parse_small(body: bytes) -> PixelRequest | None:
    data = orjson.loads(body)
    envelope = _envelope(data, list) if type(data) is dict else None
    if envelope is None:
        return None
    images = data["images"]
    if not all(type(image) is dict and image.keys() == {"pixels"} for image in images):
        return None
    grids = [image["pixels"] for image in images]
    if not all(type(grid) is list and len(grid) == _SIDE for grid in grids):
        return None
    rows = list(chain.from_iterable(grids))
    if not all(type(row) is list and len(row) == _SIDE for row in rows):
        return None
    if not _leaves_are_integers(body, data):
        return None
    # bytes() raises for a leaf outside 0..255, a float (orjson reads integers past 64 bits as
    # floats, all too large) or a list or object; a C loop, twice as fast as numpy.fromiter
    pixels = bytearray().join(map(bytes, rows))  # writable: torch.from_numpy warns on read-only
    return PixelRequest(np.frombuffer(pixels, dtype=np.uint8).reshape(-1, _SIDE, _SIDE), *envelope)


def _parse_large(body: bytes) -> PixelRequest | None:
    data = simdjson.Parser().parse(body)  # a parser per call: its values must not outlive the next parse
    if type(data) is not simdjson.Object:
        return None
    envelope = _envelope(data, simdjson.Array)
    if envelope is None:
        return None
    top_k, model = envelope
    grids: list[simdjson.Array] = []
    for image in cast(simdjson.Array, data["images"]):  # as _envelope checked
        if type(image) is not simdjson.Object or list(image) != ["pixels"]:
            return None
        grids.append(cast(simdjson.Array, image["pixels"]))  # as _has_grid_skeleton will check
    if not _leaves_are_integers(body, data) or not _has_grid_skeleton(body, data, len(grids)):
        return None
    # Each grid is 28 lists of 28 integers now, which as_buffer flattens into one buffer.
    values = np.concatenate([np.frombuffer(grid.as_buffer(of_type="i"), dtype=np.int64) for grid in grids])
    if values.min() < 0 or values.max() > 255:
        return None
    return PixelRequest(values.astype(np.uint8).reshape(-1, _SIDE, _SIDE), top_k, model)


def _has_grid_skeleton(body: bytes, data: Mapping[str, Any], images: int) -> bool:
    """The body's brackets, braces, colons and commas are exactly those of a request whose images
    are 28 lists of 28 scalars each (in a fraction of the time a walk over the rows takes).

    Valid JSON with these and no others has a scalar in every slot, and _leaves_are_integers
    leaves only integers there (and the model name in its shortest spelling, so its own
    brackets or commas are the characters themselves).
    """
    values = (_images_skeleton(images) if key == "images" else _scalar_skeleton(data[key]) for key in data)
    expected = b"{" + b",".join(b":" + value for value in values) + b"}"
    return body.translate(None, _NOT_SKELETON_BYTES) == expected


def _scalar_skeleton(value: object) -> bytes:
    """What of those characters a scalar of the envelope spells: only a string can hold any."""
    return value.encode().translate(None, _NOT_SKELETON_BYTES) if isinstance(value, str) else b""


@lru_cache(maxsize=16)  # a few sizes of request are common; any other is as cheap to build
def _images_skeleton(images: int) -> bytes:
    row = b"[" + b"," * (_SIDE - 1) + b"]"
    image = b"{:[" + b",".join([row] * _SIDE) + b"]}"
    return b"[" + b",".join([image] * images) + b"]"


def _envelope(data: Mapping[str, Any], array: type) -> tuple[int, str | None] | None:
    """(top_k, model) if ``data`` has only the documented keys, a non-empty list of images (as the
    parser at hand spells lists), and top_k and model of their types; else None."""
    if not _ENVELOPE_KEYS.issuperset(data):
        return None
    images, top_k, model = data.get("images"), data.get("top_k", DEFAULT_TOP_K), data.get("model")
    if type(images) is not array or not images or type(top_k) is not int or not 1 <= top_k <= MAX_TOP_K:
        return None
    return (top_k, model) if model is None or type(model) is str else None


def _leaves_are_integers(body: bytes, data: Mapping[str, Any]) -> bool:
    """No leaf in the pixel grids is a float, string, boolean or null, decided on the raw bytes.

    Deleting the bytes of integers, separators, brackets and whitespace leaves only what is
    inside strings, plus a '.' or exponent for every float and the letters of every
    true/false/null. Here the only strings allowed are the keys and the model name, so the
    rest must be exactly as long as their shortest (orjson's) spelling; an escaped spelling
    is longer and merely falls back to the schema, and so does a repeated key (the parsers
    read the first or the last of them; the schema, the last).
    """
    envelope = {key: data[key] for key in data if key != "images"}
    images: Sequence[Any] = data["images"]
    expected = len(b'"images"') + _KEYS_PER_IMAGE * len(images)
    expected += len(orjson.dumps(envelope).translate(None, _INTEGER_JSON_BYTES))
    return len(body.translate(None, _INTEGER_JSON_BYTES)) == expected
