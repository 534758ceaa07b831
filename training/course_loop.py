"""The course's training loop: a fixed number of epochs, a fixed learning rate, no checkpoint picking.

The digit and surname loop (``training.loop``) is built for cross-entropy over many
batches with a one-cycle schedule and best-on-validation weights; the course's models
train on a handful of rows (or one string) with MSE, binary cross-entropy or per-position
cross-entropy and the optimiser the course names, so they keep their own short loop.
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

# (inputs, targets): the model is called as model(inputs); the loss takes (output, targets).
Pair = tuple[torch.Tensor, torch.Tensor]
LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Scorer = Callable[[torch.Tensor, torch.Tensor], float]  # (output, targets) -> accuracy in percent
OptimiserName = Literal["sgd", "adam"]


@dataclass(frozen=True)
class CourseEpoch:
    """One epoch's figures; accuracies are None for a regression, held-out ones without a held-out set."""

    loss: float
    accuracy: float | None = None
    held_out_loss: float | None = None
    held_out_accuracy: float | None = None


@dataclass
class CourseFit:
    history: list[CourseEpoch] = field(default_factory=list)
    seconds: float = 0.0


def make_optimiser(
    name: OptimiserName, model: nn.Module, lr: float, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, weight_decay=weight_decay)
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)


@torch.no_grad()
def measure(model: nn.Module, pair: Pair, loss_fn: LossFunction, scorer: Scorer | None) -> tuple[float, float | None]:
    """Loss and (if ``scorer``) accuracy of ``model`` on one (inputs, targets) pair, in eval mode."""
    model.eval()
    inputs, targets = pair
    output = model(inputs)
    return float(loss_fn(output, targets)), scorer(output, targets) if scorer else None


def fit_course_model(
    model: nn.Module,
    batches: Callable[[int], Iterator[Pair]],
    *,
    train: Pair,
    epochs: int,
    optimiser: torch.optim.Optimizer,
    loss_fn: LossFunction,
    scorer: Scorer | None = None,
    held_out: Pair | None = None,
) -> CourseFit:
    """Run ``epochs`` epochs of ``batches(epoch)``; record the loss (and accuracy) after each on all of ``train``.

    The held-out pair is only measured, never used to choose weights: the last epoch's are kept.
    """
    result, started = CourseFit(), time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        for inputs, targets in batches(epoch):
            loss = loss_fn(model(inputs), targets)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
        loss_value, accuracy = measure(model, train, loss_fn, scorer)
        held = measure(model, held_out, loss_fn, scorer) if held_out is not None else (None, None)
        result.history.append(CourseEpoch(loss_value, accuracy, *held))
    model.eval()
    result.seconds = time.perf_counter() - started
    return result


def whole_batch(pair: Pair) -> Callable[[int], Iterator[Pair]]:
    """Every epoch is one step on all rows, as in the course's toy examples."""

    def batches(epoch: int) -> Iterator[Pair]:
        del epoch
        yield pair

    return batches


def shuffled_batches(pair: Pair, batch_size: int, seed: int) -> Callable[[int], Iterator[Pair]]:
    """Mini-batches in a fresh order each epoch, fixed by ``seed`` and the epoch number."""
    inputs, targets = pair

    def batches(epoch: int) -> Iterator[Pair]:
        order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            yield inputs[idx], targets[idx]

    return batches
