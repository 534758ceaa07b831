"""Decode-cost bombs: small files that would hold a core for seconds are refused before decoding.

Each bomb is refused from its structure or header, in far less than the second of CPU a file
may cost; files just inside the limits still decode.
"""

import re
import time
from collections.abc import Callable

import httpx
import numpy as np
import pytest
from PIL import Image

from service.runtime.errors import InputTooLargeError, InvalidInputError, RuntimeServiceError
from service.runtime.image_limits import (
    MAX_ASPECT_RATIO,
    MAX_GIF_BLOCKS,
    MAX_JPEG_MARKERS,
    MAX_JPEG_SCANS,
    MAX_PNG_CHUNKS,
)
from service.runtime.imaging import declared_pixels, decode_image, image_to_mnist
from tests.hardening import bombs
from tests.hardening.conftest import StillServes, assert_error

LIMIT = bombs.SIDE * bombs.SIDE  # the default TINYSERVE_MAX_IMAGE_PIXELS
CPU_PER_FILE_S = 1.0  # the budget for any one file

# (case, file, error, HTTP status, error type, message fragment)
BOMBS: list[tuple[str, Callable[[], bytes], type[RuntimeServiceError], int, str, str]] = [
    (
        "progressive JPEG with 5,000 empty scans",
        lambda: bombs.scan_heavy_jpeg(5000),
        InputTooLargeError,
        413,
        "payload_too_large",
        f"the JPEG has 5006 scans; at most {MAX_JPEG_SCANS} are decoded",  # 5,000 and its own
    ),
    (
        "JPEG with 2,000,000 comment markers",
        lambda: bombs.jpeg_with_markers(2_000_000),
        InputTooLargeError,
        413,
        "payload_too_large",
        f"the JPEG has more than {MAX_JPEG_MARKERS} segments before its image data",
    ),
    (
        "1-bit PNG strip of 1 x 16,777,216",
        lambda: bombs.png_strip(1, 16_777_216),
        InvalidInputError,
        400,
        "invalid_input",
        f"the image is 1x16777216 pixels, one side more than {MAX_ASPECT_RATIO} times the other",
    ),
    (
        "PNG with 690,000 empty chunks",
        lambda: bombs.png_with_chunks(690_000),
        InputTooLargeError,
        413,
        "payload_too_large",
        f"the PNG has more than {MAX_PNG_CHUNKS} chunks",
    ),
    (
        "GIF with 2,000,000 comment extensions",
        lambda: bombs.gif_with_comments(2_000_000),
        InputTooLargeError,
        413,
        "payload_too_large",
        f"the GIF has more than {MAX_GIF_BLOCKS} extension blocks before its first frame",
    ),
]


@pytest.mark.parametrize(("build", "error", "fragment"), [(b[1], b[2], b[5]) for b in BOMBS], ids=[b[0] for b in BOMBS])
def test_a_bomb_is_refused_within_its_cpu_budget(
    build: Callable[[], bytes], error: type[RuntimeServiceError], fragment: str
) -> None:
    data = build()
    assert len(data) <= 8 * 1024 * 1024  # fits the default body limit
    started = time.process_time()
    with pytest.raises(error, match=re.escape(fragment)):
        decode_image(data, LIMIT)
    assert time.process_time() - started < CPU_PER_FILE_S


@pytest.mark.parametrize(
    ("build", "status", "kind", "fragment"), [b[1:2] + b[3:] for b in BOMBS], ids=[b[0] for b in BOMBS]
)
async def test_a_bomb_upload_gets_its_documented_error(
    hardened: httpx.AsyncClient,
    still_serves: StillServes,
    build: Callable[[], bytes],
    status: int,
    kind: str,
    fragment: str,
) -> None:
    files = [("files", ("seven.png", build(), "image/png"))]
    response = await hardened.post("/v1/digits/predict/upload", files=files)
    assert_error(response, status, kind, f"files[0]: {fragment}", "images: decode-cost bombs")
    await still_serves()


def test_a_small_webp_of_the_largest_size_is_answered_within_its_cpu_budget() -> None:
    data = bombs.large_lossless_webp()
    started = time.process_time()
    with pytest.raises(InvalidInputError, match="no visible ink"):  # blank: decoded in full, then refused
        image_to_mnist(data, LIMIT)
    assert time.process_time() - started < CPU_PER_FILE_S


def digit(side: int) -> Image.Image:
    pixels = np.full((side, side), 255, dtype=np.uint8)
    pixels[side // 4 : 3 * side // 4, side // 2 - side // 16 : side // 2 + side // 16] = 0  # a "1"
    return Image.fromarray(pixels)


def test_a_progressive_jpeg_at_the_scan_limit_still_decodes() -> None:
    data = bombs.encoded(digit(256), "JPEG", progressive=True, quality=90)
    padded = data[:-2] + b"\xff\xda\x00\x08\x01\x01\x00\x01\x3f\x00" * (MAX_JPEG_SCANS - data.count(b"\xff\xda"))
    frame = image_to_mnist(padded + b"\xff\xd9", LIMIT)
    assert frame.shape == (28, 28) and frame.max() > 200


def test_a_strip_at_the_aspect_limit_still_decodes() -> None:
    image = Image.new("L", (MAX_ASPECT_RATIO * 8, 8), 255)
    image.paste(0, (100, 2, 104, 6))
    assert decode_image(bombs.encoded(image, "PNG"), LIMIT).shape == (8, MAX_ASPECT_RATIO * 8)


def test_a_camera_style_jpeg_with_metadata_segments_decodes() -> None:
    exif = Image.Exif()
    exif[0x0112] = 1  # orientation: as stored
    data = bombs.encoded(digit(128), "JPEG", exif=exif, comment=b"scanned", progressive=True)
    assert image_to_mnist(data, LIMIT).max() > 200


# ---- declared_pixels: the header probe callers use to plan decoding ----


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP"])
def test_declared_pixels_reads_the_header_of_every_accepted_format(fmt: str) -> None:
    assert declared_pixels(bombs.encoded(Image.new("L", (300, 200), 255), fmt)) == 300 * 200


def test_declared_pixels_does_not_decode() -> None:
    """The image data is cut off, so decoding would fail: the header alone gives the size."""
    rng = np.random.default_rng(0)
    data = bombs.encoded(Image.fromarray(rng.integers(0, 255, (500, 400), dtype=np.uint8)), "PNG")
    cut = data[: len(data) // 4]
    assert declared_pixels(cut) == 400 * 500
    with pytest.raises(InvalidInputError, match="could not be decoded"):
        decode_image(cut, LIMIT)


def test_declared_pixels_gives_what_decoding_would_cost_for_small_files_that_decode_large() -> None:
    assert declared_pixels(bombs.large_lossless_webp()) == LIMIT
    assert declared_pixels(bombs.png_strip(1, 16_777_216)) == LIMIT


@pytest.mark.parametrize(
    "data",
    [b"", b"hello", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", bombs.jpeg_with_markers(5000)],
    ids=["empty", "text", "PNG signature only", "JPEG start only", "GIF signature only", "marker bomb"],
)
def test_declared_pixels_is_0_when_unreadable_or_refused_before_decoding(data: bytes) -> None:
    assert declared_pixels(data) == 0
