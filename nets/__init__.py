"""Network architectures, looked up by name.

Training and the service both build models through :func:`build_model`, so an
artifact's manifest only needs the architecture name and its constructor
arguments to be rebuilt anywhere. An installed package adds its own through the
``tinyserve.architectures`` entry point group (name: the architecture, value:
``module:factory``); a manifest can only name a registered one, so nothing in a
model store can make training or the server import code.
"""

from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from torch import nn

from nets.course import (
    DiabetesMLP,
    HelloEmbedding,
    HelloRNN,
    HelloRNNCell,
    LinearRegression,
    LogisticRegression,
)
from nets.digits import DigitsCNN, DigitsInception, DigitsMLP, DigitsResNet
from nets.names import NamesGRU

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "digits-mlp": DigitsMLP,
    "digits-cnn": DigitsCNN,
    "digits-inception": DigitsInception,
    "digits-resnet": DigitsResNet,
    "names-gru": NamesGRU,
    "linear-regression": LinearRegression,
    "logistic-regression": LogisticRegression,
    "diabetes-mlp": DiabetesMLP,
    "hello-rnncell": HelloRNNCell,
    "hello-rnn": HelloRNN,
    "hello-embedding": HelloEmbedding,
}


ENTRY_POINT_GROUP = "tinyserve.architectures"


@cache
def architectures() -> dict[str, Callable[..., nn.Module]]:
    """The built-in architectures and those of installed plugins."""
    found = dict(ARCHITECTURES)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in found:
            raise ValueError(f"architecture {entry.name!r} ({entry.value}) is already registered")
        found[entry.name] = entry.load()
    return found


def build_model(architecture: str, **kwargs: Any) -> nn.Module:
    """Instantiate a registered architecture with its constructor arguments."""
    registered = architectures()
    try:
        factory = registered[architecture]
    except KeyError:
        known = ", ".join(sorted(registered))
        raise ValueError(f"unknown architecture {architecture!r}; known: {known}") from None
    return factory(**kwargs)


__all__ = [
    "ARCHITECTURES",
    "ENTRY_POINT_GROUP",
    "architectures",
    "DiabetesMLP",
    "DigitsCNN",
    "DigitsInception",
    "DigitsMLP",
    "DigitsResNet",
    "HelloEmbedding",
    "HelloRNN",
    "HelloRNNCell",
    "LinearRegression",
    "LogisticRegression",
    "NamesGRU",
    "build_model",
]
