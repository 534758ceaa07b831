"""DigitRunner: its two payload kinds (uint8 pixels; float32 already normalised, V2's FP32 input) and its graphs."""

import numpy as np
import pytest
import torch

from artifacts import ModelStore
from service.runtime import runners
from service.runtime.runners import DigitRunner
from tests.paths import MODELS_STORE


def load_cnn() -> DigitRunner:
    return DigitRunner(ModelStore(MODELS_STORE).load("digits-cnn"), torch.device("cpu"), 4096 * 4096)


@pytest.fixture(scope="module")
def runner() -> DigitRunner:
    return load_cnn()


def test_normalise_uses_the_manifest_constants(runner: DigitRunner) -> None:
    pixels = np.array([[[0, 255] + [0] * 26] + [[0] * 28] * 27], dtype=np.uint8)
    prep = runner.manifest.preprocessing
    x = runner.normalise(pixels)
    assert x.shape == (1, 1, 28, 28) and x.dtype == np.float32
    assert x[0, 0, 0, 0] == pytest.approx((0 - prep.mean) / prep.std, rel=1e-6)  # type: ignore[union-attr]
    assert x[0, 0, 0, 1] == pytest.approx((1 - prep.mean) / prep.std, rel=1e-6)  # type: ignore[union-attr]


def test_float_input_gives_the_pixel_answers(runner: DigitRunner) -> None:
    pixels = runner.golden_payload()
    from_pixels = runner.forward([pixels])
    np.testing.assert_allclose(runner.forward([runner.normalise(pixels)]), from_pixels, atol=1e-6)


def test_a_batch_may_mix_pixels_and_floats(runner: DigitRunner) -> None:
    pixels = runner.golden_payload()
    mixed = runner.forward([pixels[:3], runner.normalise(pixels[3:5]), pixels[5:]])
    assert mixed.shape == (len(pixels), 10)
    np.testing.assert_allclose(mixed, runner.forward([pixels]), atol=1e-6)


def test_golden_check_covers_both_graphs(runner: DigitRunner) -> None:
    assert runner.golden_error() < 1e-4


def test_the_traced_graph_replaces_the_eager_one_with_the_same_answers() -> None:
    runner = load_cnn()
    pixels = runner.golden_payload()
    eager = runner.forward([pixels])
    assert runner.graph == "eager"
    runner.optimise(tolerance=1e-4)
    assert runner.graph == "traced"
    np.testing.assert_allclose(runner.forward([pixels]), eager, atol=1e-6)


class _Uniform(torch.nn.Module):
    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.full((pixels.shape[0], 10), 0.1)


def test_a_traced_graph_that_misses_the_golden_outputs_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = load_cnn()
    monkeypatch.setattr(runners, "_freeze", lambda module, example: _Uniform())
    eager = runner.forward([runner.golden_payload()])
    runner.optimise(tolerance=1e-4)
    assert runner.graph == "eager"
    np.testing.assert_array_equal(runner.forward([runner.golden_payload()]), eager)
