"""NameRunner: the traced graph and the stepwise one for unpadded batches, and the eager one that
still packs padded ones."""

from collections.abc import Callable

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


@pytest.mark.parametrize("stepwise_until", [None, 64], ids=["traced", "stepwise"])
@pytest.mark.parametrize("names", BATCHES, ids=["one", "equal-lengths", "padded"])
def test_the_optimised_graphs_give_the_eager_answers(names: list[str], stepwise_until: int | None) -> None:
    runner = load_gru()
    eager = runner.forward([names])
    assert runner.graph == "eager"
    runner.optimise(tolerance=1e-4)
    assert runner.graph == "traced"
    assert runner._stepwise is not None
    runner.stepwise_until = stepwise_until  # whatever the timing chose
    np.testing.assert_allclose(runner.forward([names]), eager, atol=1e-6)
    assert runner.golden_error() < 1e-4


def test_each_batch_runs_the_graph_for_its_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = load_gru()
    runner.optimise(tolerance=1e-4)
    runner.stepwise_until = 1
    calls: list[tuple[str, tuple[int, ...]]] = []

    def recorded(label: str) -> Callable[[torch.Tensor], torch.Tensor]:
        graph = getattr(runner, label)

        def call(tokens: torch.Tensor) -> torch.Tensor:
            calls.append((label, tuple(tokens.shape)))
            return graph(tokens)  # type: ignore[no-any-return]

        return call

    for label in ("_stepwise", "_unpadded"):
        monkeypatch.setattr(runner, label, recorded(label))
    for names in BATCHES:
        runner.forward([names])
    # one name: stepwise; three of one length: beyond its batch limit; the padded batch: the eager, packing model
    assert calls == [("_stepwise", (1, 8)), ("_unpadded", (3, 5))]


class _Uniform(torch.nn.Module):
    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.full((tokens.shape[0], 18), 1 / 18)


@pytest.mark.parametrize("compiler", ["_freeze", "_script"])
def test_a_graph_that_misses_the_golden_outputs_is_not_used(monkeypatch: pytest.MonkeyPatch, compiler: str) -> None:
    runner = load_gru()
    monkeypatch.setattr(runners, compiler, lambda module, *example: _Uniform())
    eager = runner.forward([["nakamura"]])
    runner.optimise(tolerance=1e-4)
    assert (runner.graph == "eager") == (compiler == "_freeze")
    assert (runner._stepwise is None and runner.stepwise_until is None) == (compiler == "_script")
    np.testing.assert_allclose(runner.forward([["nakamura"]]), eager, atol=1e-6)


@pytest.mark.parametrize(
    ("faster_at", "threshold"),
    [
        ({1, 4, 16, 32, 64}, 64),
        ({1, 4, 16}, 16),
        ({1, 4, 32, 64}, 4),  # a loss at 16 ends it: larger batches only grow its disadvantage
        ({4, 16, 32, 64}, None),  # slower for one name: never
    ],
)
def test_the_stepwise_graph_runs_up_to_the_batch_where_it_stops_winning(
    monkeypatch: pytest.MonkeyPatch, faster_at: set[int], threshold: int | None
) -> None:
    runner = load_gru()
    monkeypatch.setattr(NameRunner, "_stepwise_is_faster", lambda self, stepwise, rows: rows in faster_at)
    runner.optimise(tolerance=1e-4)
    assert runner.stepwise_until == threshold


def test_the_timed_choice_is_a_probe_size_or_never() -> None:
    runner = load_gru()
    runner.optimise(tolerance=1e-4)
    assert runner.stepwise_until in {None, *runners.STEPWISE_PROBES}
