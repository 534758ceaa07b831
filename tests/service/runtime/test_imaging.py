import numpy as np
import pytest
from PIL import Image

from service.runtime.errors import InputTooLargeError, InvalidInputError
from service.runtime.imaging import decode_image, image_to_mnist, to_mnist
from tests.service.conftest import png_bytes


def square_digit(size: int = 200, stroke: int = 20, light_background: bool = True) -> np.ndarray:
    grey = np.full((size, size), 255.0 if light_background else 0.0, dtype=np.float32)
    ink = 0.0 if light_background else 255.0
    grey[size // 4 : size // 4 + stroke, size // 4 : 3 * size // 4] = ink
    grey[size // 4 : 3 * size // 4, size // 2 : size // 2 + stroke] = ink
    return grey


def test_output_is_mnist_shaped_white_on_black_and_centred() -> None:
    out = to_mnist(square_digit())
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out[0].max() == 0 and out[:, 0].max() == 0  # background black
    rows, cols = np.nonzero(out > 50)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 <= 21  # fits the 20-pixel box
    total = out.sum()
    cy = (out.sum(axis=1) * np.arange(28)).sum() / total
    cx = (out.sum(axis=0) * np.arange(28)).sum() / total
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1


def test_light_and_dark_backgrounds_give_the_same_input() -> None:
    light = to_mnist(square_digit(light_background=True))
    dark = to_mnist(square_digit(light_background=False))
    assert np.abs(light.astype(int) - dark.astype(int)).max() <= 1


@pytest.mark.parametrize("value", [0, 255, 128])
def test_uniform_images_have_no_ink(value: int) -> None:
    with pytest.raises(InvalidInputError, match="no visible ink"):
        to_mnist(np.full((50, 50), value, dtype=np.float32))


def test_sixteen_bit_png_is_scaled() -> None:
    grey16 = (square_digit(light_background=False) * 257).astype(np.uint16)
    data = png_bytes(Image.fromarray(grey16))
    assert image_to_mnist(data, 10**7).max() > 200


def test_pixel_limit_is_checked_before_decoding() -> None:
    data = png_bytes(Image.new("L", (300, 300), 0))
    with pytest.raises(InputTooLargeError, match="300x300"):
        decode_image(data, max_pixels=200 * 200)


@pytest.mark.parametrize(
    "data", [b"", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, b"<svg xmlns='http://www.w3.org/2000/svg'/>"]
)
def test_garbage_is_invalid_input(data: bytes) -> None:
    with pytest.raises(InvalidInputError):
        decode_image(data, 10**7)


def test_truncated_png_is_invalid_input() -> None:
    data = png_bytes(Image.fromarray(square_digit().astype(np.uint8)))
    with pytest.raises(InvalidInputError):
        decode_image(data[: len(data) // 2], 10**7)


@pytest.mark.parametrize(
    ("shape", "slope_x", "slope_y", "offset"),
    [((60, 60), 0.5, 0.5, 60), ((90, 60), -0.5, 0.5, 50), ((61, 77), 0.5, 0.5, 60), ((61, 77), -0.5, 0.5, 50)],
)
def test_unevenly_lit_paper_gives_the_same_input_as_even_light(
    shape: tuple[int, int], slope_x: float, slope_y: float, offset: float
) -> None:
    """A photo's light falls off across the page: the plane through the border is paper, not ink
    (the plane fit replaced by the border's median leaves the gradient in as ink and fails this)."""
    height, width = shape
    ink = 255.0 - square_digit(max(shape), stroke=max(shape) // 10)[:height, :width]  # white on black
    ys, xs = np.mgrid[0:height, 0:width]
    light = offset + slope_x * (xs - width / 2) + slope_y * (ys - height / 2)
    lit = np.clip(ink + light, 0, 255).astype(np.float32)
    flat = to_mnist(ink.astype(np.float32))
    assert np.abs(to_mnist(lit).astype(int) - flat.astype(int)).mean() < 5
