"""Digit images as users send them, rendered from real MNIST digits with Pillow."""

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from tests.service.conftest import png_bytes


def mnist_png(pixels: np.ndarray) -> bytes:
    return png_bytes(Image.fromarray(pixels))


def dark_on_light(pixels: np.ndarray) -> bytes:
    return png_bytes(Image.fromarray(255 - pixels))


def drawing_on_canvas(pixels: np.ndarray) -> bytes:
    """Black strokes on a white 400x400 canvas, large and away from the centre."""
    digit = Image.fromarray(255 - pixels).resize((240, 240), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (400, 400), 255)
    canvas.paste(digit, (20, 130))
    return png_bytes(canvas)


def off_centre(pixels: np.ndarray) -> bytes:
    canvas = Image.new("L", (120, 90), 0)
    canvas.paste(Image.fromarray(pixels), (85, 2))
    return png_bytes(canvas)


def jpeg_scaled(pixels: np.ndarray) -> bytes:
    digit = Image.fromarray(255 - pixels).resize((112, 112), Image.Resampling.BILINEAR)
    return png_bytes(digit, "JPEG", quality=70)


def rgb_coloured(pixels: np.ndarray) -> bytes:
    """Blue ink on yellow paper, as an RGB PNG."""
    ink = pixels.astype(np.float32)[..., None] / 255.0
    paper, blue = np.array([250, 240, 180]), np.array([20, 30, 160])
    rgb = (paper * (1 - ink) + blue * ink).astype(np.uint8)
    return png_bytes(Image.fromarray(rgb, "RGB").resize((84, 84)))


def phone_photo(pixels: np.ndarray) -> bytes:
    """Grey paper with noise and uneven light, dark grey ink, slightly blurred, as JPEG."""
    rng = np.random.default_rng(0)
    big = np.asarray(Image.fromarray(pixels).resize((150, 150), Image.Resampling.BICUBIC), dtype=np.float32) / 255
    light = np.linspace(175, 215, 150)[None, :]
    photo = light * (1 - big) + 70 * big + rng.normal(0, 6, (150, 150))
    image = Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    return png_bytes(image, "JPEG", quality=80)


def transparent_png(pixels: np.ndarray) -> bytes:
    """Black strokes on a transparent background, as drawing apps export them."""
    rgba = np.zeros((28, 28, 4), dtype=np.uint8)
    rgba[..., 3] = pixels
    return png_bytes(Image.fromarray(rgba, "RGBA").resize((56, 56)))


IMAGE_KINDS: dict[str, Callable[[np.ndarray], bytes]] = {
    "mnist_png": mnist_png,
    "dark_on_light": dark_on_light,
    "drawing_on_canvas": drawing_on_canvas,
    "off_centre": off_centre,
    "jpeg_scaled": jpeg_scaled,
    "rgb_coloured": rgb_coloured,
    "phone_photo": phone_photo,
    "transparent_png": transparent_png,
}
