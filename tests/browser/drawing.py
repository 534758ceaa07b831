"""Strokes on the playground's 280x280 pad, drawn with the mouse as a person would."""

import math

from playwright.sync_api import Page

Stroke = list[tuple[float, float]]

SEVEN: list[Stroke] = [[(70, 60), (210, 60), (120, 235)]]
ZERO: list[Stroke] = [
    [(140 + 62 * math.sin(2 * math.pi * i / 32), 140 - 95 * math.cos(2 * math.pi * i / 32)) for i in range(33)]
]
STRAY: list[Stroke] = [[(30, 250), (60, 260)]]


def draw(page: Page, strokes: list[Stroke], steps: int = 6) -> None:
    """Each stroke pressed, moved through its points in small steps, released (pointer events)."""
    box = page.locator("#pad").bounding_box()
    assert box is not None
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=steps)
        page.mouse.up()


def draw_by_touch(page: Page, strokes: list[Stroke], steps: int = 8) -> None:
    """The same strokes as touches, through the DevTools protocol: the browser turns them into
    pointer events of type "touch", as from a finger (the context needs has_touch)."""
    box = page.locator("#pad").bounding_box()
    assert box is not None
    session = page.context.new_cdp_session(page)

    def touch(kind: str, points: list[tuple[float, float]]) -> None:
        touch_points = [{"x": box["x"] + x, "y": box["y"] + y} for x, y in points]
        session.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": touch_points})

    for stroke in strokes:
        touch("touchStart", stroke[:1])
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:], strict=False):
            for i in range(1, steps + 1):
                touch("touchMove", [(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps)])
        touch("touchEnd", [])
    session.detach()


def pad_png_base64(page: Page) -> str:
    """The pad as the PNG data URL the page uploads (the same canvas encodes to the same bytes)."""
    data_url: str = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
    return data_url.partition(",")[2]


def ink_pixels(page: Page) -> int:
    """Pixels on the pad that are not white paper."""
    count: int = page.evaluate(
        """() => {
            const pad = document.getElementById('pad');
            const data = pad.getContext('2d').getImageData(0, 0, pad.width, pad.height).data;
            let ink = 0;
            for (let i = 0; i < data.length; i += 4) if (data[i] < 250) ink += 1;
            return ink;
        }"""
    )
    return count


def preview_pixels(page: Page) -> list[list[int]]:
    """The 28x28 preview as drawn: the red channel of each pixel (the preview is grey)."""
    grid: list[list[int]] = page.evaluate(
        """() => {
            const canvas = document.getElementById('preview');
            const data = canvas.getContext('2d').getImageData(0, 0, 28, 28).data;
            return Array.from({length: 28}, (_, y) => Array.from({length: 28}, (_, x) => data[(y * 28 + x) * 4]));
        }"""
    )
    return grid
