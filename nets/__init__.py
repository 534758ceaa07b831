"""Network architectures, looked up by name.

Training and the service both build models through :func:`build_model`, so an
artifact's manifest only needs the architecture name and its constructor
arguments to be rebuilt anywhere.
"""

from collections.abc import Callable
from typing import Any

from torch import nn

from nets.digits import DigitsCNN, DigitsInception, DigitsMLP, DigitsResNet
from nets.names import NamesGRU

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "digits-mlp": DigitsMLP,
    "digits-cnn": DigitsCNN,
    "digits-inception": DigitsInception,
    "digits-resnet": DigitsResNet,
    "names-gru": NamesGRU,
}


def build_model(architecture: str, **kwargs: Any) -> nn.Module:
    """Instantiate a registered architecture with its constructor arguments."""
    try:
        factory = ARCHITECTURES[architecture]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ValueError(f"unknown architecture {architecture!r}; known: {known}") from None
    return factory(**kwargs)


__all__ = [
    "ARCHITECTURES",
    "DigitsCNN",
    "DigitsInception",
    "DigitsMLP",
    "DigitsResNet",
    "NamesGRU",
    "build_model",
]
