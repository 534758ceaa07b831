"""Broken, odd and hostile image files: each gets its documented 4xx (or a correct answer), never a 500.

Every case ends by checking that a correct prediction still works.
"""

import io
import struct
import zlib
from collections.abc import Callable

import httpx
import numpy as np
import pytest
from PIL import Image

from service.runtime.imaging import WORKING_SIDE, decode_image
from tests.hardening import tally
from tests.hardening.conftest import Reference, StillServes, assert_error
from tests.service.conftest import b64, png_bytes

LIMIT = 4096 * 4096  # the default TINYSERVE_MAX_IMAGE_PIXELS


def digit_png(pixels: np.ndarray) -> bytes:
    return png_bytes(Image.fromarray(255 - pixels).resize((84, 84)))


def forged_png_size(width: int, height: int) -> bytes:
    """A valid 8x8 PNG whose header then claims ``width`` x ``height`` (the CRC is fixed up)."""
    data = bytearray(png_bytes(Image.new("L", (8, 8), 255)))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def forged_gif_size(width: int, height: int) -> bytes:
    data = bytearray(png_bytes(Image.new("L", (8, 8), 255), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def truncated(fmt: str) -> bytes:
    rng = np.random.default_rng(0)  # noise does not compress, so the cut lands inside the image data
    whole = png_bytes(Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)), fmt)
    return whole[: len(whole) // 2]


def plain(colour: int, size: tuple[int, int] = (50, 50)) -> bytes:
    return png_bytes(Image.new("L", size, colour))


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><path d="M14 4v20" stroke="#000"/></svg>'
PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"
NOT_AN_IMAGE = "not a PNG, JPEG, BMP, GIF or WebP image"
NO_INK = "the image has no visible ink"
UNDECODABLE = "the image could not be decoded"

# (case, file bytes, status, error type, message fragment)
BROKEN_FILES: list[tuple[str, bytes, int, str, str]] = [
    ("truncated PNG", truncated("PNG"), 400, "invalid_input", UNDECODABLE),
    ("truncated JPEG", truncated("JPEG"), 400, "invalid_input", UNDECODABLE),
    ("truncated GIF", truncated("GIF"), 400, "invalid_input", UNDECODABLE),
    ("zero bytes", b"", 400, "invalid_input", "the image is empty (0 bytes)"),
    ("a text file", b"hello, I am a text file named seven.png\n", 400, "invalid_input", NOT_AN_IMAGE),
    ("an HTML page", b"<!doctype html><img src=x onerror=alert(1)>", 400, "invalid_input", NOT_AN_IMAGE),
    ("an SVG", SVG, 400, "invalid_input", NOT_AN_IMAGE),
    ("a PDF", PDF, 400, "invalid_input", NOT_AN_IMAGE),
    (
        "a TIFF (not an accepted format)",
        png_bytes(Image.new("L", (28, 28)), "TIFF"),
        400,
        "invalid_input",
        NOT_AN_IMAGE,
    ),
    ("PNG signature only", b"\x89PNG\r\n\x1a\n", 400, "invalid_input", ""),
    ("1x1 black", plain(0, (1, 1)), 400, "invalid_input", NO_INK),
    ("1x1 white", plain(255, (1, 1)), 400, "invalid_input", NO_INK),
    ("all white", plain(255), 400, "invalid_input", NO_INK),
    ("all black", plain(0), 400, "invalid_input", NO_INK),
    ("all mid grey", plain(128, (300, 200)), 400, "invalid_input", NO_INK),
    (
        "bomb: PNG declaring 100000x100000",
        forged_png_size(100_000, 100_000),
        413,
        "payload_too_large",
        "the image declares more than",
    ),
    (
        "bomb: PNG declaring 10000x10000",
        forged_png_size(10_000, 10_000),
        413,
        "payload_too_large",
        "the image declares more than",
    ),
    (
        "bomb: GIF declaring 65535x65535",
        forged_gif_size(65_535, 65_535),
        413,
        "payload_too_large",
        "the image declares more than",
    ),
    ("PNG declaring 5000x5000", forged_png_size(5000, 5000), 413, "payload_too_large", "the image is 5000x5000 pixels"),
    (
        "4097x4097 real PNG",
        plain(0, (4097, 4097)),
        413,
        "payload_too_large",
        f"the image is 4097x4097 pixels; at most {LIMIT} pixels",
    ),
]


@pytest.mark.parametrize(
    ("data", "status", "kind", "fragment"), [c[1:] for c in BROKEN_FILES], ids=[c[0] for c in BROKEN_FILES]
)
async def test_broken_file_as_base64(
    hardened: httpx.AsyncClient, still_serves: StillServes, data: bytes, status: int, kind: str, fragment: str
) -> None:
    response = await hardened.post("/v1/digits/predict", json={"images": [{"image_base64": b64(data)}]})
    assert_error(response, status, kind, f"images[0]: {fragment}", "images: broken and hostile files")
    await still_serves()


@pytest.mark.parametrize(
    ("data", "status", "kind", "fragment"), [c[1:] for c in BROKEN_FILES], ids=[c[0] for c in BROKEN_FILES]
)
async def test_broken_file_as_upload(
    hardened: httpx.AsyncClient, still_serves: StillServes, data: bytes, status: int, kind: str, fragment: str
) -> None:
    files = [("files", ("seven.png", data, "image/png"))]  # the name and type claim PNG whatever the bytes are
    response = await hardened.post("/v1/digits/predict/upload", files=files)
    assert_error(response, status, kind, f"files[0]: {fragment}", "images: broken and hostile files")
    await still_serves()


BAD_BASE64 = [
    ("garbage characters", "iVBORw0K$$$%%%"),
    ("missing padding", "iVBORw0KGgo"),
    ("too much padding", "A==="),
    ("non-ASCII letters", "ïVBØRw0KGgo="),
    ("URL-safe alphabet", "iVBORw0KGgo_-A=="),
    ("a data URL with garbage", "data:image/png;base64,@@@@"),
]


@pytest.mark.parametrize("text", [c[1] for c in BAD_BASE64], ids=[c[0] for c in BAD_BASE64])
async def test_bad_base64(hardened: httpx.AsyncClient, still_serves: StillServes, text: str) -> None:
    response = await hardened.post("/v1/digits/predict", json={"images": [{"image_base64": text}]})
    assert_error(response, 400, "invalid_input", "images[0]: image_base64 is not valid base64", "images: bad base64")
    await still_serves()


def sixteen_bit(pixels: np.ndarray) -> bytes:
    return png_bytes(Image.fromarray(pixels.astype(np.uint16) * 257))


def cmyk_jpeg(pixels: np.ndarray) -> bytes:
    return png_bytes(Image.fromarray(255 - pixels).resize((112, 112)).convert("CMYK"), "JPEG", quality=90)


def palette_with_transparency(pixels: np.ndarray) -> bytes:
    """Black ink in a palette PNG whose white background is the transparent palette entry."""
    image = Image.fromarray(255 - pixels).resize((56, 56)).convert("P")
    return png_bytes(image, transparency=image.getpixel((0, 0)))


def animated_gif(pixels: np.ndarray) -> bytes:
    """The digit in the first frame, a white square in the second: only the first frame counts."""
    first = Image.fromarray(255 - pixels).resize((56, 56))
    second = Image.new("L", (56, 56), 0)
    second.paste(255, (10, 10, 46, 46))
    buffer = io.BytesIO()
    first.save(buffer, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    return buffer.getvalue()


def grey_alpha(pixels: np.ndarray) -> bytes:
    la = np.stack([np.zeros_like(pixels), pixels], axis=-1)  # black ink, opaque only where the ink is
    return png_bytes(Image.fromarray(la, "LA").resize((56, 56)))


def one_bit(pixels: np.ndarray) -> bytes:
    return png_bytes(Image.fromarray(255 - pixels).resize((56, 56)).point(lambda v: 255 if v > 127 else 0).convert("1"))


def exif_rotated_jpeg(pixels: np.ndarray) -> bytes:
    """Stored rotated on its side with EXIF orientation 6, as phones do; upright once transposed."""
    exif = Image.Exif()
    exif[0x0112] = 6
    image = Image.fromarray(255 - pixels).resize((112, 112)).rotate(90, expand=True)
    return png_bytes(image, "JPEG", quality=90, exif=exif.tobytes())


def progressive_jpeg(pixels: np.ndarray) -> bytes:
    return png_bytes(Image.fromarray(255 - pixels).resize((112, 112)), "JPEG", quality=85, progressive=True)


def bmp(pixels: np.ndarray) -> bytes:
    return png_bytes(Image.fromarray(255 - pixels).convert("RGB"), "BMP")


def webp(pixels: np.ndarray) -> bytes:
    return png_bytes(Image.fromarray(255 - pixels).resize((84, 84)), "WEBP", lossless=True)


def huge(mode: str) -> Callable[[np.ndarray], bytes]:
    """The digit drawn over a 4000x4000 canvas: under the pixel limit, in several pixel modes."""

    def make(pixels: np.ndarray) -> bytes:
        ink = Image.fromarray(pixels).resize((4000, 4000), Image.Resampling.BILINEAR)
        paper = Image.eval(ink, lambda v: 255 - v)
        if mode == "I;16":
            return png_bytes(Image.fromarray(np.asarray(paper, dtype=np.uint16) * 257))
        if mode == "P+transparency":  # two colours: black ink, transparent paper
            image = paper.point(lambda v: 255 if v > 127 else 0).convert("P")
            return png_bytes(image, transparency=image.getpixel((0, 0)))
        if mode == "RGBA":
            return png_bytes(Image.merge("RGBA", [paper, paper, paper, ink]))
        return png_bytes(paper.convert(mode))

    return make


ODD_BUT_VALID: dict[str, Callable[[np.ndarray], bytes]] = {
    "16-bit PNG": sixteen_bit,
    "CMYK JPEG": cmyk_jpeg,
    "palette PNG with transparency": palette_with_transparency,
    "animated GIF": animated_gif,
    "grey + alpha PNG": grey_alpha,
    "1-bit PNG": one_bit,
    "EXIF-rotated JPEG": exif_rotated_jpeg,
    "progressive JPEG": progressive_jpeg,
    "BMP": bmp,
    "lossless WebP": webp,
    "4000x4000 grey PNG": huge("L"),
    "4000x4000 RGBA PNG": huge("RGBA"),
    "4000x4000 16-bit PNG": huge("I;16"),
    "4000x4000 palette PNG with transparency": huge("P+transparency"),
    "4000x4000 1-bit PNG": huge("1"),
}


@pytest.mark.parametrize("kind", list(ODD_BUT_VALID))
async def test_odd_but_valid_images_are_read_correctly(
    hardened: httpx.AsyncClient, reference: Reference, still_serves: StillServes, kind: str
) -> None:
    digits = reference.digits[:2]
    images = [{"image_base64": b64(ODD_BUT_VALID[kind](pixels))} for pixels, _ in digits]
    response = await hardened.post("/v1/digits/predict", json={"images": images, "top_k": 1})
    tally.record("images: odd but valid files", response.status_code)
    assert response.status_code == 200, response.text
    assert [p["digit"] for p in response.json()["predictions"]] == [label for _, label in digits]
    await still_serves()


async def test_a_data_url_is_accepted(hardened: httpx.AsyncClient, reference: Reference) -> None:
    pixels, label = reference.digits[0]
    url = "data:image/png;base64," + b64(digit_png(pixels))
    response = await hardened.post("/v1/digits/predict", json={"images": [{"image_base64": url}]})
    tally.record("images: odd but valid files", response.status_code)
    assert response.status_code == 200 and response.json()["predictions"][0]["digit"] == label


async def test_one_bad_image_fails_the_request_and_names_it(
    hardened: httpx.AsyncClient, reference: Reference, still_serves: StillServes
) -> None:
    good = [{"image_base64": b64(digit_png(pixels))} for pixels, _ in reference.digits[:3]]
    images = [*good[:2], {"image_base64": b64(truncated("PNG"))}, good[2]]
    response = await hardened.post("/v1/digits/predict", json={"images": images})
    assert_error(
        response, 400, "invalid_input", "images[2]: the image could not be decoded", "images: broken and hostile files"
    )
    await still_serves()


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "P+transparency", "1"])
def test_large_images_are_shrunk_before_the_float_work(reference: Reference, mode: str) -> None:
    """A 4000x4000 image reaches NumPy at most WORKING_SIDE pixels a side (it once cost ~3 s and ~600 MB)."""
    grey = decode_image(huge(mode)(reference.digits[0][0]), LIMIT)
    assert max(grey.shape) <= WORKING_SIDE
    assert grey.dtype == np.float32 and float(grey.min()) >= 0.0 and float(grey.max()) <= 255.0
