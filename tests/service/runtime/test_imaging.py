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


@pytest.mark.parametrize(("size", "fall", "across"), [(60, 100, "x"), (60, 150, "y"), (90, 120, "x"), (61, 180, "y")])
def test_unevenly_lit_paper_gives_the_same_input_as_even_light(size: int, fall: float, across: str) -> None:
    """A photo's light falls off across the page (here by ``fall`` levels): the plane through the
    border is paper, not ink. A flat estimate of the paper takes the shadow for ink or for noise."""
    digit = square_digit(size, stroke=size // 10)  # dark ink on evenly lit paper
    ys, xs = np.mgrid[0:size, 0:size]
    paper = 250.0 - fall * (xs if across == "x" else ys) / (size - 1)
    photo = np.where(digit < 128, 0.0, paper).astype(np.float32)
    assert np.abs(to_mnist(photo).astype(int) - to_mnist(digit).astype(int)).mean() < 10
