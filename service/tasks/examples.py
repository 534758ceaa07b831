"""Worked examples for the OpenAPI document and the playground: a seven, as pixels and as a PNG."""

import base64
import io

from PIL import Image, ImageDraw


def example_seven_pixels() -> list[list[int]]:
    """A hand-made 28x28 seven in MNIST convention (white on black)."""
    grid = [[0] * 28 for _ in range(28)]
    for col in range(8, 21):
        grid[7][col] = grid[8][col] = 255
    for row in range(9, 23):
        col = 20 - (row - 9) // 2
        grid[row][col] = grid[row][col - 1] = 255
    return grid


def example_seven_png_base64() -> str:
    """A dark seven drawn on a light 64x64 canvas, as a user would upload it."""
    image = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(image).line([(16, 14), (46, 14), (28, 52)], fill=0, width=6)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()
