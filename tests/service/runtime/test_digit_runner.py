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
    assert runner.graph == "eager" and runner._onednn_module is runner._eager_module
    np.testing.assert_array_equal(runner.forward([runner.golden_payload()]), eager)


def test_large_batches_run_the_channels_last_graph_with_the_same_answers() -> None:
    runner = load_cnn()
    runner.optimise(tolerance=1e-4)
    runner.onednn_from = 8  # whatever the timing chose
    pixels = np.resize(runner.golden_payload(), (64, 28, 28))
    assert runner._onednn_module not in (runner._module, runner._eager_module)
    expected = runner._run(runner._eager_module, pixels, onednn=False)
    np.testing.assert_allclose(runner.forward([pixels]), expected, atol=1e-6)
    assert torch.backends.mkldnn.enabled


@pytest.mark.parametrize(
    ("faster_at", "threshold"),
    [
        ({4, 8, 16, 32, 64}, 4),
        ({16, 32, 64}, 16),
        ({4, 8, 32, 64}, 32),  # a loss at 16 outweighs the wins below it
        ({4, 8, 16, 32}, None),  # slower at the largest batch: never
        (set(), None),
    ],
)
def test_onednn_is_used_from_the_batch_where_it_wins_for_good(
    monkeypatch: pytest.MonkeyPatch, faster_at: set[int], threshold: int | None
) -> None:
    runner = load_cnn()
    monkeypatch.setattr(DigitRunner, "_onednn_is_faster", lambda self, rows: rows in faster_at)
    runner.optimise(tolerance=1e-4)
    assert runner.onednn_from == threshold


def test_onednn_is_not_used_when_it_misses_the_golden_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = load_cnn()
    monkeypatch.setattr(DigitRunner, "_onednn_is_faster", lambda self, rows: True)
    runner.optimise(tolerance=-1.0)  # no graph or kernel can meet it
    assert runner.onednn_from is None and runner.graph == "eager"


@pytest.mark.parametrize("rows", [1, 7, 8, 64])
def test_each_forward_chooses_its_kernels_by_batch_size(runner: DigitRunner, rows: int) -> None:
    pixels = np.resize(runner.golden_payload(), (rows, 28, 28))
    runner.onednn_from = 8
    try:
        expected = runner._run(runner._module, pixels, onednn=False)
        probabilities = runner.forward([pixels])
        assert torch.backends.mkldnn.enabled == (rows >= 8)
        np.testing.assert_allclose(probabilities, expected, atol=1e-6)  # both kernels, same answers
    finally:
        runner.onednn_from = None


def test_the_timed_choice_is_a_probe_size_or_never() -> None:
    runner = load_cnn()
    runner.optimise(tolerance=1e-4)
    assert runner.onednn_from in {None, *runners.ONEDNN_PROBES}
