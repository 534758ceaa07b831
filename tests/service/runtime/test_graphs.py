"""GraphPlan: verified graphs replace eager ones, alternatives take over by batch size."""

import numpy as np
import pytest
import torch
from torch import nn

from service.runtime.graphs import Alternative, Graph, GraphPlan, Lane, takeover_threshold

CPU = torch.device("cpu")


class Doubler(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


class Wrong(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 3


def lane(alternative: Alternative | None = None, traceable: bool = True) -> Lane:
    x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    return Lane("main", Doubler(), [((x,), x * 2)], (x,) if traceable else None, alternative)


def alternative(module: nn.Module, regime: str = "from", fixed: int | None = 8) -> Alternative:
    return Alternative(
        build=lambda graph: Graph("onednn", module),
        regime=regime,  # type: ignore[arg-type]
        probes=(4, 8, 16),
        fixed_threshold=fixed,
        inputs_for=lambda rows: (torch.ones(rows, 3),),
    )


def test_the_traced_graph_replaces_the_eager_one() -> None:
    plan = GraphPlan([lane()], CPU)
    plan.optimise(tolerance=1e-6, autotune=False)
    assert plan.lanes["main"].graph.name == "traced"
    np.testing.assert_allclose(plan.run("main", (torch.ones(2, 3),), 2), np.full((2, 3), 2.0))


def test_an_untraceable_lane_stays_eager() -> None:
    plan = GraphPlan([lane(traceable=False)], CPU)
    plan.optimise(tolerance=1e-6, autotune=False)
    assert plan.lanes["main"].graph.name == "eager"


def test_an_alternative_that_misses_the_golden_outputs_is_never_used() -> None:
    plan = GraphPlan([lane(alternative(Wrong()))], CPU)
    plan.optimise(tolerance=1e-6, autotune=False)
    main = plan.lanes["main"]
    assert main.faster is None and main.threshold is None
    np.testing.assert_allclose(plan.run("main", (torch.ones(64, 3),), 64), np.full((64, 3), 2.0))


def test_no_graph_is_adopted_when_none_can_meet_the_tolerance() -> None:
    plan = GraphPlan([lane(alternative(Doubler()))], CPU)
    plan.optimise(tolerance=-1.0, autotune=False)
    main = plan.lanes["main"]
    assert main.graph.name == "eager" and main.faster is None


@pytest.mark.parametrize(
    ("regime", "rows", "chosen"),
    [("from", 7, "traced"), ("from", 8, "onednn"), ("until", 8, "onednn"), ("until", 9, "traced")],
)
def test_without_autotuning_the_fixed_threshold_decides(regime: str, rows: int, chosen: str) -> None:
    plan = GraphPlan([lane(alternative(Doubler(), regime))], CPU)
    plan.optimise(tolerance=1e-6, autotune=False)
    assert plan.lanes["main"].threshold == 8
    assert plan.lanes["main"].select(rows).name == chosen


def test_a_forward_sets_the_kernels_of_its_graph() -> None:
    plan = GraphPlan(
        [
            lane(
                Alternative(
                    lambda g: Graph("onednn", Doubler(), onednn=True), "from", (4,), 4, lambda r: (torch.ones(r, 3),)
                )
            )
        ],
        CPU,
    )
    plan.optimise(tolerance=1e-6, autotune=False)
    plan.run("main", (torch.ones(4, 3),), 4)
    assert torch.backends.mkldnn.enabled
    plan.run("main", (torch.ones(2, 3),), 2)
    assert not torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = True  # type: ignore[assignment]


def test_the_timed_threshold_is_a_probe_or_never() -> None:
    plan = GraphPlan([lane(alternative(Doubler()))], CPU)
    plan.optimise(tolerance=1e-6, autotune=True)
    assert plan.lanes["main"].threshold in {None, 4, 8, 16}


@pytest.mark.parametrize(
    ("regime", "wins_at", "threshold"),
    [
        ("from", {4, 8, 16, 32, 64}, 4),
        ("from", {16, 32, 64}, 16),
        ("from", {4, 8, 32, 64}, 32),  # a loss at 16 outweighs the wins below it
        ("from", {4, 8, 16, 32}, None),  # slower at the largest batch: never
        ("from", set(), None),
        ("until", {4, 8, 16, 32, 64}, 64),
        ("until", {4, 8, 16}, 16),
        ("until", {4, 8, 32, 64}, 8),  # a loss at 16 ends it: larger batches only grow its disadvantage
        ("until", {8, 16, 32, 64}, None),  # slower for the smallest batch: never
    ],
)
def test_takeover_threshold(regime: str, wins_at: set[int], threshold: int | None) -> None:
    assert takeover_threshold(regime, (4, 8, 16, 32, 64), wins_at.__contains__) == threshold  # type: ignore[arg-type]
