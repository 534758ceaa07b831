"""Turning images as users send them into MNIST-style 28x28 inputs.

MNIST digits are white on black, cropped to the ink, scaled so the longer side
is 20 pixels and placed in a 28x28 frame with the ink's centre of mass in the
middle. Uploads (a drawing on a white canvas, a photo crop, a real MNIST PNG)
get the same procedure, or the model would see something it was never trained on.
"""

import functools
import io
import struct
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from service.runtime.errors import InputTooLargeError, InvalidInputError
from service.runtime.image_limits import check_aspect_ratio, check_structure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ACCEPTED_FORMATS = ("BMP", "GIF", "JPEG", "PNG", "WEBP")
MNIST_SIZE = 28
MNIST_BOX = 20
# Below this contrast (of 255) between ink and background there is no digit to read.
MIN_INK_CONTRAST = 40.0
# Larger images are shrunk by a whole factor before the float work below: the MNIST box is
# 20 pixels, so nothing is lost, and a huge image costs a fraction of the time and memory.
WORKING_SIDE = 1024


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Decode PNG/JPEG/BMP/GIF/WebP bytes to a greyscale float32 array, checking size and cost first."""
    if not data:
        raise InvalidInputError("the image is empty (0 bytes)")
    check_structure(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            width, height = image.size
            if width * height > max_pixels:
                raise InputTooLargeError(
                    f"the image is {width}x{height} pixels; at most {max_pixels} pixels are accepted"
                )
            check_aspect_ratio(width, height)
            image.seek(0)  # first frame of an animation
            ImageOps.exif_transpose(image, in_place=True)  # phones store rotation in EXIF
            grey = _to_grey(_shrink(image))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputTooLargeError(f"the image declares more than {max_pixels} pixels") from None
    except UnidentifiedImageError:
        raise InvalidInputError("not a PNG, JPEG, BMP, GIF or WebP image") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InvalidInputError(f"the image could not be decoded ({exc})") from None
    return grey


def declared_pixels(data: bytes) -> int:
    """Width x height from the file's header, without decoding it; 0 when the header cannot be read.

    Cheap enough for the event loop: it tells a caller what decoding will cost before paying it.
    A file that ``decode_image`` refuses before decoding (its structure, a decompression bomb) also
    reads as 0: refusing it is cheap."""
    if data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR" and len(data) >= 24:  # the common upload, read directly
        width, height = struct.unpack(">II", data[16:24])
        return int(width) * int(height)
    try:
        check_structure(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            width, height = image.size
    except (InputTooLargeError, Image.DecompressionBombError, OSError, ValueError, SyntaxError, EOFError):
        return 0
    return int(width) * int(height)


def _shrink(image: Image.Image) -> Image.Image:
    """Box-filter an image down by a whole factor until its longer side is at most WORKING_SIDE."""
    factor = -(-max(image.size) // WORKING_SIDE)
    if factor <= 1:
        return image
    if image.mode in {"1", "P", "PA"} or image.mode.startswith("I;16") or "transparency" in image.info:
        # Palette indices cannot be averaged; 16-bit and transparency need a mode that keeps them.
        has_alpha = image.mode == "PA" or "transparency" in image.info
        image = image.convert("I" if image.mode.startswith("I;16") else "RGBA" if has_alpha else "L")
    return image.reduce(factor)


def _to_grey(image: Image.Image) -> np.ndarray:
    """Greyscale, with transparent pixels set to the background the visible ink stands out from."""
    if image.mode in {"I;16", "I;16B", "I;16L", "I"}:
        array = np.asarray(image, dtype=np.float32)
        top = float(array.max()) or 1.0
        return array * (255.0 / (65535.0 if top > 255 else 255.0))
    has_alpha = image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info
    if not has_alpha:
        return np.asarray(image if image.mode == "L" else image.convert("L"), dtype=np.float32)
    rgba = np.asarray(image.convert("LA"), dtype=np.float32)
    grey, alpha = rgba[..., 0], rgba[..., 1] / 255.0
    visible = alpha > 0.5
    ink_is_light = visible.any() and float(grey[visible].mean()) > 127.5
    background = 0.0 if ink_is_light else 255.0
    blended: np.ndarray = grey * alpha + background * (1.0 - alpha)
    return blended


def to_mnist(grey: np.ndarray) -> np.ndarray:
    """The MNIST procedure on a greyscale image of any size; returns uint8 (28, 28)."""
    border = _border(grey)
    if _median(border) > 127.5:  # dark ink on light paper: make it white on black
        grey, border = 255.0 - grey, 255.0 - border
    plane = _border_plane(grey.shape, border)  # photos are lit unevenly: remove the paper's gradient
    ink = grey - plane
    residual = border - _border(plane)  # the border of ``ink``
    noise = 1.4826 * _median(np.abs(residual - _median(residual)))
    ink = np.clip(ink - 3.0 * noise, 0.0, None)  # paper grain and sensor noise are not ink
    peak = float(ink.max())
    if peak < MIN_INK_CONTRAST:
        raise InvalidInputError("the image has no visible ink (it is blank or has too little contrast)")
    ink *= 255.0 / peak
    rows, cols = np.nonzero(ink > 0.2 * 255.0)
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    height, width = crop.shape
    scale = MNIST_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    box = np.asarray(Image.fromarray(crop.astype(np.uint8)).resize(size, Image.Resampling.LANCZOS))
    return _centre_by_mass(box)


def _border(image: np.ndarray) -> np.ndarray:
    return np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])


def _median(values: np.ndarray) -> float:
    # np.median's generality costs more than sorting the few hundred border pixels it is given here.
    ordered = np.sort(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (float(ordered[middle - 1]) + float(ordered[middle])) / 2.0


def _border_plane(shape: tuple[int, ...], border: np.ndarray) -> np.ndarray:
    """Least-squares plane a + b*x + c*y through the border pixels: the background's light."""
    height, width = shape
    a, b, c = _border_fit(height, width) @ border.astype(np.float64)
    plane: np.ndarray = (a + b * _ramp(width)[None, :] + c * _ramp(height)[:, None]).astype(np.float32)
    return plane


@functools.lru_cache(maxsize=64)
def _border_fit(height: int, width: int) -> np.ndarray:
    """The pseudo-inverse that maps border pixels (in ``_border``'s order) to the plane's a, b, c.

    It depends on the image's size alone: computed once per size rather than an SVD per image."""
    xs = np.broadcast_to(np.arange(width, dtype=np.float64), (height, width))
    ys = np.broadcast_to(np.arange(height, dtype=np.float64)[:, None], (height, width))
    bx, by = _border(xs), _border(ys)
    fit: np.ndarray = np.linalg.pinv(np.stack([np.ones_like(bx), bx, by], axis=1))
    fit.flags.writeable = False  # shared between requests
    return fit


@functools.lru_cache(maxsize=256)
def _ramp(length: int) -> np.ndarray:
    """``np.arange(length)``, made once per length: every upload asks for a few."""
    ramp = np.arange(length)
    ramp.flags.writeable = False  # shared between requests
    return ramp


def _centre_by_mass(box: np.ndarray) -> np.ndarray:
    """Place uint8 ``box`` in a 28x28 frame with its centre of mass in the middle."""
    height, width = box.shape
    total = float(box.sum()) or 1.0
    cy = float(box.sum(axis=1) @ _ramp(height)) / total
    cx = float(box.sum(axis=0) @ _ramp(width)) / total
    top = min(max(round(MNIST_SIZE / 2 - cy - 0.5), 0), MNIST_SIZE - height)
    left = min(max(round(MNIST_SIZE / 2 - cx - 0.5), 0), MNIST_SIZE - width)
    frame = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.uint8)
    frame[top : top + height, left : left + width] = box
    return frame


def image_to_mnist(data: bytes, max_pixels: int) -> np.ndarray:
    return to_mnist(decode_image(data, max_pixels))
