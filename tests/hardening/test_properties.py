"""Property tests for the pre-processing: any pixel grid, any bytes as an image, any Unicode as a name.

Each property is "a correct result or the documented domain error, nothing else": an exception of any
other type would reach the client as a 500. Bounded and derandomised, so CI runs the same examples.
"""

import io
import json
import math
from collections import Counter

import httpx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from pydantic import ValidationError

from artifacts import ModelStore
from artifacts.text import MAX_NAME_LENGTH
from service.runtime.errors import InputTooLargeError, InvalidInputError, UnprocessableInputError
from service.runtime.imaging import image_to_mnist, to_mnist
from service.runtime.runner import ModelRunner
from service.tasks.image_classification import DigitsPredictRequest
from tests.hardening import tally
from tests.paths import MODELS_STORE
from tests.service.conftest import make_settings

SETTINGS = make_settings(device="cpu")

LIMIT = 4096 * 4096
BOUNDED = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> None:
    """As the service runs (TINYSERVE_TORCH_THREADS=1); two threads on a busy CPU made each forward ~1 s."""
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digit_runner() -> ModelRunner:
    return ModelRunner.for_artifact(ModelStore(MODELS_STORE).load("digits-cnn"), torch.device("cpu"), SETTINGS)


@pytest.fixture(scope="module")
def name_runner() -> ModelRunner:
    return ModelRunner.for_artifact(ModelStore(MODELS_STORE).load("names-gru"), torch.device("cpu"), SETTINGS)


def assert_probabilities(probabilities: np.ndarray, rows: int) -> None:
    assert probabilities.shape[0] == rows
    assert np.isfinite(probabilities).all()
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)


# ---- pixel grids ----

grids = arrays(np.uint8, (28, 28), elements=st.integers(0, 255))


@BOUNDED
@given(grid=grids)
def test_any_pixel_grid_gives_probabilities(digit_runner: ModelRunner, grid: np.ndarray) -> None:
    payload = np.asarray([grid.tolist()], dtype=np.uint8)
    assert payload.dtype == np.uint8 and payload.shape == (1, 28, 28)
    assert (payload[0] == grid).all()
    assert_probabilities(digit_runner.forward([payload]), 1)


def test_the_schema_accepts_a_grid_exactly_when_every_pixel_is_0_to_255() -> None:
    outcomes: Counter[bool] = Counter()

    @BOUNDED
    @given(values=st.lists(st.integers(-300, 300), min_size=784, max_size=784))
    def check(values: list[int]) -> None:
        body = json.dumps({"images": [{"pixels": [values[r * 28 : r * 28 + 28] for r in range(28)]}]})
        valid = all(0 <= v <= 255 for v in values)
        outcomes[valid] += 1
        if valid:
            parsed = DigitsPredictRequest.model_validate_json(body)
            assert parsed.images[0].pixels == [values[r * 28 : r * 28 + 28] for r in range(28)]
        else:
            with pytest.raises(ValidationError) as refused:
                DigitsPredictRequest.model_validate_json(body)
            assert refused.value.error_count() == 1  # fail_fast: the first bad pixel, not all of them

    check()
    assert outcomes[True] > 0 and outcomes[False] > 0, outcomes


def test_the_mnist_procedure_takes_any_grey_image() -> None:
    """Any size, any values: a 28x28 uint8 frame, or 'no visible ink' (always for a uniform image);
    both outcomes occur, so a procedure that always refused would fail."""
    outcomes: Counter[str] = Counter()

    @BOUNDED
    @given(
        grey=arrays(
            np.float32,
            st.tuples(st.integers(1, 64), st.integers(1, 64)),
            elements=st.floats(0, 255, width=32, allow_nan=False),
        )
    )
    def check(grey: np.ndarray) -> None:
        try:
            frame = to_mnist(grey)
        except InvalidInputError as exc:
            assert "no visible ink" in str(exc)
            outcomes["no ink"] += 1
            return
        assert grey.max() > grey.min(), "a uniform image has no ink"
        assert frame.dtype == np.uint8 and frame.shape == (28, 28)
        assert int(frame.max()) > 0
        outcomes["frame"] += 1

    check()
    assert outcomes["frame"] > 0 and outcomes["no ink"] > 0, outcomes


# ---- any bytes as an image ----


def _encodings() -> list[bytes]:
    rng = np.random.default_rng(7)
    digit = np.zeros((40, 40), dtype=np.uint8)
    digit[8:32, 18:23] = 255
    digit = np.clip(digit.astype(int) + rng.integers(0, 20, digit.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(255 - digit)
    files = []
    for fmt, mode in [("PNG", "L"), ("PNG", "RGBA"), ("PNG", "P"), ("JPEG", "L"), ("GIF", "L"), ("BMP", "RGB")]:
        buffer = io.BytesIO()
        image.convert(mode).save(buffer, fmt)
        files.append(buffer.getvalue())
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", lossless=True)
    return [*files, buffer.getvalue()]


ENCODINGS = _encodings()


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    """A real PNG/JPEG/GIF/BMP/WebP file with bytes flipped, inserted, overwritten or cut off."""
    data = bytearray(draw(st.sampled_from(ENCODINGS)))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "overwrite", "truncate"]))
        if action == "flip":
            data[position] ^= draw(st.integers(1, 255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif action == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[position : position + len(chunk)] = chunk
        else:
            del data[max(1, position) :]
    return bytes(data)


MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"GIF87a", b"BM", b"RIFF\x00\x00\x00\x00WEBPVP8 "]
image_bytes = st.one_of(
    st.binary(max_size=512),
    st.builds(lambda magic, rest: magic + rest, st.sampled_from(MAGIC), st.binary(max_size=512)),
    damaged_files(),
)


def test_any_bytes_as_an_image_give_a_frame_or_a_documented_error() -> None:
    outcomes: Counter[str] = Counter()

    @settings(BOUNDED, max_examples=2000)
    @given(data=image_bytes)
    def check(data: bytes) -> None:
        try:
            frame = image_to_mnist(data, LIMIT)
        except (InvalidInputError, InputTooLargeError):
            outcomes["refused"] += 1
            return
        assert frame.dtype == np.uint8 and frame.shape == (28, 28)
        assert int(frame.max()) > 0
        outcomes["frame"] += 1

    check()
    assert outcomes["frame"] > 0 and outcomes["refused"] > 0, outcomes  # damaged files that still decode, too


# ---- any Unicode as a name ----

TRICKY = "aZé王Иح \t\u00a0\u3000\u200b\u200d\u202e\u2066\ufeff\u0301\x00\x1b\ud800\udfff😀\U000e0041'-"
unicode_names = st.one_of(
    st.text(max_size=80),
    st.text(st.characters(exclude_categories=()), max_size=80),  # surrogates and unassigned code points too
    st.text(st.sampled_from(TRICKY), max_size=80),
)


def test_any_unicode_name_folds_to_a_readable_name_or_is_refused(name_runner: ModelRunner) -> None:
    outcomes: Counter[str] = Counter()

    @BOUNDED
    @given(names=st.lists(unicode_names, min_size=1, max_size=4))
    def check(names: list[str]) -> None:
        try:
            folded = name_runner.task.fold(names)
        except UnprocessableInputError as exc:
            assert str(exc).startswith("names[")
            outcomes["refused"] += 1
            return
        assert len(folded) == len(names)
        for name in folded:
            assert name.isascii() and 0 < len(name) <= MAX_NAME_LENGTH
            assert any("a" <= ch <= "z" for ch in name)
        assert_probabilities(name_runner.forward([folded]), len(names))
        outcomes["folded"] += 1

    check()
    assert outcomes["folded"] > 0 and outcomes["refused"] > 0, outcomes


@BOUNDED
@given(names=st.lists(unicode_names, min_size=1, max_size=3))
@example(names=["Nakamura", "Dvořák"])  # folds: 200
@example(names=["\u200b\u3000"])  # nothing readable: 422
@example(names=["Ab\ud800"])  # a lone surrogate is not JSON text: 400
async def test_any_unicode_name_over_http_gets_the_answer_folding_predicts(
    hardened: httpx.AsyncClient, name_runner: ModelRunner, names: list[str]
) -> None:
    """json.dumps escapes lone surrogates, which are not JSON text: those bodies are a 400. The rest
    are a 200 exactly when the task folds every name, else a 422 naming the first refused one."""
    body = json.dumps({"names": names})
    response = await hardened.post("/v1/names/predict", content=body, headers={"content-type": "application/json"})
    tally.record("properties: any Unicode names over HTTP", response.status_code)
    if any(0xD800 <= ord(ch) <= 0xDFFF for name in names for ch in name):
        assert response.status_code == 400, response.text
        assert response.json()["error"]["type"] == "invalid_json"
        return
    try:
        name_runner.task.fold(names)
    except UnprocessableInputError as exc:
        assert response.status_code == 422, response.text
        assert response.json()["error"]["message"] == str(exc)
        return
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["name"] for p in predictions] == names
    assert all(math.isfinite(p["probability"]) for p in predictions)
