"""Which graph runs a batch: eager, traced and frozen, channels-last on oneDNN, or the stepwise GRU.

A task describes the kinds of batch its model takes as ``Lane``s: the eager module, the golden
inputs and outputs that any replacement must reproduce, whether it can be traced, and at most one
``Alternative`` graph that is faster for some batch sizes. ``GraphPlan.optimise`` swaps in each
verified graph; where an alternative wins is timed per model (``autotune``) or, for a reproducible
choice, taken from the alternative's fixed threshold.
"""

import copy
import logging
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import numpy as np
import torch
from torch import nn

logger = logging.getLogger("tinyserve.graphs")

# Tracing warns of TorchScript's deprecation, and of nn.GRU's input checks becoming constants in the
# trace: neither tells an operator anything, as the golden check judges each graph. Set once for the
# process, not per trace: tracing runs on a lifespan thread and catch_warnings is not thread-safe.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit\.")
warnings.filterwarnings("ignore", message="Converting a tensor to a Python boolean", module=r"torch\.nn\.modules\.rnn")

PROBE_REPEATS = 7
PROBE_WARMUPS = 2  # the first calls per shape and graph set up oneDNN's primitives and the JIT's plan
# Timed calls after which a probe stops early when every call of one graph was faster than every call
# of the other: most probes are that clear, and timing is most of a cold start's optimisation.
PROBE_CLEAR_AFTER = 3

Inputs = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class Graph:
    """A module that maps a lane's inputs to the served outputs, and the CPU kernels it runs on."""

    name: Literal["eager", "traced", "onednn", "stepwise"]
    module: nn.Module
    onednn: bool = False


@dataclass(frozen=True)
class Alternative:
    """A second graph for a lane, faster for large batches (``from``) or for small ones (``until``)."""

    build: Callable[[Graph], Graph | None]  # from the lane's verified graph; None where it cannot be built
    regime: Literal["from", "until"]
    probes: tuple[int, ...]  # batch sizes it is timed at, ascending
    fixed_threshold: int | None  # where it takes over when autotuning is off
    inputs_for: Callable[[int], Inputs]  # a batch of that many golden rows
    cpu_only: bool = True


@dataclass
class Lane:
    """One kind of batch a task sends its model (e.g. pixels, or names of one length)."""

    name: str
    eager: nn.Module
    golden: Sequence[tuple[Inputs, torch.Tensor]]  # inputs and the outputs recorded at training time
    trace_example: Inputs | None = None  # None: the lane's module cannot be traced (packed sequences)
    alternative: Alternative | None = None
    graph: Graph = field(init=False)
    faster: Graph | None = field(default=None, init=False)
    threshold: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.graph = Graph("eager", self.eager.eval())

    def select(self, rows: int) -> Graph:
        if self.faster is None or self.threshold is None or self.alternative is None:
            return self.graph
        takes_over = rows >= self.threshold if self.alternative.regime == "from" else rows <= self.threshold
        return self.faster if takes_over else self.graph


class GraphPlan:
    """The lanes of one model on one device, and the graph each batch runs."""

    def __init__(self, lanes: Sequence[Lane], device: torch.device) -> None:
        self.lanes = {lane.name: lane for lane in lanes}
        self.device = device

    def run(self, lane: str, inputs: Inputs, rows: int) -> np.ndarray:
        graph = self.lanes[lane].select(rows)
        return self.call(graph, inputs)

    def call(self, graph: Graph, inputs: Inputs) -> np.ndarray:
        if self.device.type == "cpu":
            # The switch is process-wide, so every forward sets it for itself; two models' batches
            # racing can only cost speed, as every graph reproduces the golden outputs on both kernels.
            torch.backends.mkldnn.enabled = graph.onednn  # type: ignore[assignment]
        else:
            inputs = tuple(tensor.to(self.device) for tensor in inputs)
        with torch.inference_mode():
            outputs: np.ndarray = graph.module(*inputs).float().cpu().numpy()
        return outputs

    def golden_error(self) -> float:
        """Largest absolute difference from the training-time outputs, over every lane's current graphs."""
        errors = [self._error(lane, lane.graph) for lane in self.lanes.values()]
        errors += [self._error(lane, lane.faster) for lane in self.lanes.values() if lane.faster is not None]
        return max(errors, default=0.0)

    def optimise(self, tolerance: float, autotune: bool) -> None:
        """Swap in each lane's traced graph and its alternative where they reproduce the golden outputs."""
        for lane in self.lanes.values():
            if lane.trace_example is not None:
                traced = traced_graph(lane.eager, lane.trace_example)
                if traced is not None and self._error(lane, traced) <= tolerance:
                    lane.graph = traced
            self._adopt_alternative(lane, tolerance, autotune)

    def time_kernels(self) -> None:
        """Time each lane's alternative against its graph and move its takeover point to where it wins."""
        for lane in self.lanes.values():
            if lane.faster is not None:
                lane.threshold = self._timed_threshold(lane, lane.faster)  # one store: batches see old or new

    def _adopt_alternative(self, lane: Lane, tolerance: float, autotune: bool) -> None:
        alternative = lane.alternative
        if alternative is None or (alternative.cpu_only and self.device.type != "cpu"):
            return
        faster = alternative.build(lane.graph)
        if faster is None or self._error(lane, faster) > tolerance:
            return
        threshold = self._timed_threshold(lane, faster) if autotune else alternative.fixed_threshold
        lane.faster, lane.threshold = faster, threshold

    def _timed_threshold(self, lane: Lane, faster: Graph) -> int | None:
        alternative = lane.alternative
        assert alternative is not None

        def wins(rows: int) -> bool:
            inputs = alternative.inputs_for(rows)
            return _is_faster(partial(self.call, faster, inputs), partial(self.call, lane.graph, inputs))

        return takeover_threshold(alternative.regime, alternative.probes, wins)

    def _error(self, lane: Lane, graph: Graph) -> float:
        errors = [
            float(np.abs(self.call(graph, inputs) - expected.float().numpy()).max()) for inputs, expected in lane.golden
        ]
        return max(errors, default=0.0)


def takeover_threshold(
    regime: Literal["from", "until"], probes: Sequence[int], wins: Callable[[int], bool]
) -> int | None:
    """``from``: the smallest probe from which the alternative wins at every larger probe (a loss at a
    large batch outweighs wins below it); ``until``: the largest probe up to which it wins at every
    smaller one (its lead only shrinks as batches grow). None: it never takes over."""
    threshold = None
    for rows in reversed(probes) if regime == "from" else probes:
        if not wins(rows):
            break
        threshold = rows
    return threshold


# ---- graph builders ----


def traced_graph(module: nn.Module, example: Inputs) -> Graph | None:
    """The traced, frozen graph of ``module``: one graph call that drops the GIL once, not per layer."""
    try:
        with torch.inference_mode(False), torch.no_grad():
            # No check_trace: the golden check judges every graph, and the check re-traces (and imports
            # torch.testing, which pulls in torch.distributed): most of a cold start's optimisation time.
            traced = torch.jit.trace(module, example, check_trace=False)  # type: ignore[no-untyped-call]
            frozen: nn.Module = torch.jit.freeze(traced)
    except (RuntimeError, AttributeError):  # pragma: no cover - eager still works, only slower
        return None
    return Graph("traced", frozen)


def channels_last_onednn(module: nn.Module, example: Inputs) -> Graph | None:
    """The traced graph of ``module`` with channels-last weights, to run on oneDNN's kernels: slower than
    PyTorch's own for one image, faster for large batches, and where they cross depends on the model."""
    graph = traced_graph(copy.deepcopy(module).to(memory_format=torch.channels_last), example)
    return Graph("onednn", graph.module, onednn=True) if graph is not None else None


def scripted_graph(module: nn.Module, name: Literal["stepwise"]) -> Graph | None:
    """The scripted, frozen graph of ``module``, or None where TorchScript cannot compile it."""
    try:
        with torch.inference_mode(False), torch.no_grad():
            frozen: nn.Module = torch.jit.freeze(torch.jit.script(module.eval()))
    except (RuntimeError, AttributeError):  # pragma: no cover - the traced graph still serves
        return None
    return Graph(name, frozen)


def _is_faster(candidate: Callable[[], object], incumbent: Callable[[], object]) -> bool:
    """Whether ``candidate`` takes less time than ``incumbent`` (medians of calls interleaved, so
    that requests served meanwhile slow both alike)."""
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for repeat in range(PROBE_WARMUPS + PROBE_REPEATS):
        for is_candidate, call in ((False, incumbent), (True, candidate)):
            started = time.perf_counter()
            call()
            if repeat >= PROBE_WARMUPS:
                seconds[is_candidate].append(time.perf_counter() - started)
        if len(seconds[True]) >= PROBE_CLEAR_AFTER and _apart(seconds[True], seconds[False]):
            break
    return statistics.median(seconds[True]) < statistics.median(seconds[False])


def _apart(one: list[float], other: list[float]) -> bool:
    """Whether every time of one list is below every time of the other."""
    return max(one) < min(other) or max(other) < min(one)
