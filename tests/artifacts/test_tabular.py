"""Feature scaling shared by training and serving: ``(x - mean) / std`` from training statistics."""

import warnings

import pytest
import torch

from artifacts.tabular import scaling_statistics, standardise


def test_standardise_scales_each_column() -> None:
    x = torch.tensor([[1.0, 10.0], [3.0, 30.0]])
    scaled = standardise(x, [2.0, 20.0], [1.0, 10.0])
    assert scaled.tolist() == [[-1.0, -1.0], [1.0, 1.0]]
    assert scaled.dtype == torch.float32


def test_standardise_accepts_tensors_and_integer_inputs() -> None:
    scaled = standardise(torch.tensor([[4]]), torch.tensor([2.0]), torch.tensor([0.5]))
    assert scaled.tolist() == [[4.0]]


@pytest.mark.parametrize(
    ("shape", "n_stats"), [((2, 3), 2), ((3,), 3), ((1, 2, 2), 2)], ids=["columns", "one-dimensional", "three-d"]
)
def test_standardise_refuses_features_that_do_not_fit(shape: tuple[int, ...], n_stats: int) -> None:
    with pytest.raises(ValueError, match=f"do not fit {n_stats} scaling statistics"):
        standardise(torch.zeros(shape), [0.0] * n_stats, [1.0] * n_stats)


def test_scaling_statistics_are_the_population_mean_and_std() -> None:
    mean, std = scaling_statistics(torch.tensor([[1.0, 5.0], [3.0, 5.0]]))
    assert mean == [2.0, 5.0]
    assert std == [1.0, 1.0]  # the constant column gets 1, not 0
    scaled = standardise(torch.tensor([[1.0, 5.0], [3.0, 5.0]]), mean, std)
    assert scaled.tolist() == [[-1.0, 0.0], [1.0, 0.0]]


def test_standardise_traces_without_warnings_given_tensor_statistics() -> None:
    """A served graph traces the scaling with its statistics as buffers: no constants, no checks."""
    mean, std = torch.tensor([2.0, 20.0]), torch.tensor([1.0, 10.0])

    def scale(x: torch.Tensor) -> torch.Tensor:
        return standardise(x, mean, std)

    with warnings.catch_warnings():
        warnings.simplefilter("error", torch.jit.TracerWarning)
        traced = torch.jit.trace(scale, torch.zeros(3, 2))
    assert traced(torch.tensor([[3.0, 40.0]])).tolist() == [[1.0, 2.0]]
