"""NameRunner: the traced graph for unpadded batches, and the eager one that still packs padded ones."""

import numpy as np
import pytest
import torch

from artifacts import ModelStore
from service.runtime import runners
from service.runtime.runners import NameRunner
from tests.paths import MODELS_STORE

# Each batch's names, folded as a request's would be: one name, equal lengths, mixed lengths (padded).
BATCHES = [["nakamura"], ["smith", "jones", "brown"], ["li", "nakamura", "o'neill"]]


def load_gru() -> NameRunner:
    return NameRunner(ModelStore(MODELS_STORE).load("names-gru"), torch.device("cpu"))


@pytest.mark.parametrize("names", BATCHES, ids=["one", "equal-lengths", "padded"])
def test_the_traced_graph_gives_the_eager_answers(names: list[str]) -> None:
    runner = load_gru()
    eager = runner.forward([names])
    assert runner.graph == "eager"
    runner.optimise(tolerance=1e-4)
    assert runner.graph == "traced"
    np.testing.assert_allclose(runner.forward([names]), eager, atol=1e-6)
    assert runner.golden_error() < 1e-4


def test_only_unpadded_batches_run_the_traced_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = load_gru()
    runner.optimise(tolerance=1e-4)
    calls: list[tuple[int, ...]] = []
    traced = runner._unpadded
    assert traced is not None
    monkeypatch.setattr(runner, "_unpadded", lambda tokens: calls.append(tuple(tokens.shape)) or traced(tokens))
    for names in BATCHES:
        runner.forward([names])
    assert calls == [(1, 8), (3, 5)]  # the padded batch went to the eager, packing model


class _Uniform(torch.nn.Module):
    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.full((tokens.shape[0], 18), 1 / 18)


def test_a_traced_graph_that_misses_the_golden_outputs_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = load_gru()
    monkeypatch.setattr(runners, "_freeze", lambda module, example: _Uniform())
    eager = runner.forward([["nakamura"]])
    runner.optimise(tolerance=1e-4)
    assert runner.graph == "eager"
    np.testing.assert_array_equal(runner.forward([["nakamura"]]), eager)
