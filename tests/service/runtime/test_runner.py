"""ModelRunner over the committed models: every payload kind and every graph gives the eager answers."""

import numpy as np
import pytest
import torch

from artifacts import ModelStore
from service.runtime.runner import ModelRunner
from service.tasks.image_classification import ONEDNN_PROBES, ImageClassification
from tests.paths import MODELS_STORE
from tests.service.conftest import make_settings

# Each batch's names, folded as a request's would be: one name, equal lengths, mixed lengths (padded).
BATCHES = [["nakamura"], ["smith", "jones", "brown"], ["li", "nakamura", "o'neill"]]


def load(name: str, autotune: bool = False) -> ModelRunner:
    return ModelRunner.for_artifact(
        ModelStore(MODELS_STORE).load(name), torch.device("cpu"), make_settings(autotune=autotune)
    )


@pytest.fixture(scope="module")
def cnn() -> ModelRunner:
    return load("digits-cnn")


def pixels_of(runner: ModelRunner) -> np.ndarray:
    pixels: np.ndarray = runner.task.golden_payload(runner.golden)
    return pixels


def test_float_input_gives_the_pixel_answers(cnn: ModelRunner) -> None:
    assert isinstance(cnn.task, ImageClassification)
    pixels = pixels_of(cnn)
    np.testing.assert_allclose(cnn.forward([cnn.task.normalise(pixels)]), cnn.forward([pixels]), atol=1e-6)


def test_a_batch_may_mix_pixels_and_floats(cnn: ModelRunner) -> None:
    assert isinstance(cnn.task, ImageClassification)
    pixels = pixels_of(cnn)
    mixed = cnn.forward([pixels[:3], cnn.task.normalise(pixels[3:5]), pixels[5:]])
    assert mixed.shape == (len(pixels), 10)
    np.testing.assert_allclose(mixed, cnn.forward([pixels]), atol=1e-6)


def test_the_golden_check_passes_for_the_committed_model(cnn: ModelRunner) -> None:
    assert cnn.golden_error() < 1e-4


@pytest.mark.parametrize("rows", [1, 15, 16, 64])
def test_optimised_image_graphs_give_the_eager_answers_at_every_batch_size(rows: int) -> None:
    runner = load("digits-cnn")
    pixels = np.resize(pixels_of(runner), (rows, 28, 28))
    eager = runner.forward([pixels])
    assert runner.graph == "eager" and runner.takes_over("onednn") is None
    runner.optimise(tolerance=1e-4, autotune=False)
    assert runner.graph == "traced" and runner.takes_over("onednn") == 16
    np.testing.assert_allclose(runner.forward([pixels]), eager, atol=1e-6)
    assert torch.backends.mkldnn.enabled == (rows >= 16)  # each forward chooses its kernels by batch size


@pytest.mark.parametrize("names", BATCHES, ids=["one", "equal-lengths", "padded"])
def test_optimised_name_graphs_give_the_eager_answers(names: list[str]) -> None:
    runner = load("names-gru")
    eager = runner.forward([names])
    runner.optimise(tolerance=1e-4, autotune=False)
    assert runner.graph == "traced" and runner.takes_over("stepwise") == 16
    np.testing.assert_allclose(runner.forward([names]), eager, atol=1e-6)
    assert runner.golden_error() < 1e-4


def test_autotuned_thresholds_are_probe_sizes_or_never() -> None:
    digits, names = load("digits-cnn", autotune=True), load("names-gru", autotune=True)
    digits.optimise(tolerance=1e-4, autotune=True)
    names.optimise(tolerance=1e-4, autotune=True)
    assert digits.takes_over("onednn") in {None, *ONEDNN_PROBES}
    assert names.takes_over("stepwise") in {None, 1, 4, 16, 32, 64}
