"""What every classifier shares: probabilities over labels, top-k results, V2's classification extension."""

import math
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from service.runtime.errors import InvalidInputError, UnprocessableInputError
from service.runtime.tensors import BYTES, OutputTensor, RequestedOutput, TensorSpec
from service.tasks.base import PayloadT, Prepared, RequestT, Task

PROBABILITIES, LABEL = "probabilities", "label"
NON_FINITE = "the model's output is not finite for this input; send values in the range the model was trained on"


class NonFiniteOutputError(UnprocessableInputError):
    """Extreme inputs overflowed the model: the answer would be NaN or infinite."""


def top_k(probabilities: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    """Per row, the k most probable (class index, probability), highest first, ties by index.

    Plain Python on the rows: for a few dozen classes numpy's argsort costs more in call
    overhead than the sort itself.
    """
    ranked = []
    for row in probabilities.tolist():
        if not math.isfinite(sum(row)):  # any NaN or infinity makes the sum one; cheaper than numpy here
            raise NonFiniteOutputError(NON_FINITE)
        order = sorted(range(len(row)), key=row.__getitem__, reverse=True)[:k]
        ranked.append([(index, row[index]) for index in order])
    return ranked


class SoftmaxOutputs(nn.Module):
    """A classifier's one input -> class probabilities (its logits through a softmax)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.model(x)
        return logits.softmax(dim=1)


class Transformed(nn.Module):
    """A model followed by a fixed function of its output (binary or per-position probabilities)."""

    def __init__(self, model: nn.Module, transform: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.model = model
        self.transform = transform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.transform(self.model(x))


def check_finite(outputs: np.ndarray) -> None:
    """Extreme inputs can overflow a model: answer with an error, never with NaN."""
    if not np.isfinite(outputs).all():
        raise NonFiniteOutputError(NON_FINITE)


class ClassificationTask(Task[RequestT, PayloadT]):
    """Outputs are class probabilities (rows, classes), in the manifest's label order."""

    label_datatype: ClassVar[str]

    def check_top_k(self, k: int) -> None:
        if k > len(self.labels):
            raise UnprocessableInputError(f"top_k: at most {len(self.labels)} for model {self.manifest.name!r}")

    def ranked(self, outputs: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        return top_k(outputs, k)  # refuses non-finite rows

    @abstractmethod
    def label_values(self, indices: np.ndarray) -> np.ndarray | list[str]:
        """The V2 ``label`` output for the most probable class indices."""

    # ---- V2 ----

    def v2_outputs(self) -> tuple[TensorSpec, ...]:
        return TensorSpec(PROBABILITIES, "FP32", (-1, len(self.labels))), TensorSpec(LABEL, self.label_datatype, (-1,))

    def v2_requested(self, requested: list[RequestedOutput] | None, binary: bool) -> list[RequestedOutput]:
        if requested is None:
            return [RequestedOutput(PROBABILITIES, binary, 0), RequestedOutput(LABEL, binary, 0)]
        classes, name = len(self.labels), self.manifest.name
        for output in requested:
            if output.name not in (PROBABILITIES, LABEL):
                raise InvalidInputError(
                    f"unknown output {output.name!r}; model {name!r} has outputs {PROBABILITIES!r} and {LABEL!r}"
                )
            if output.classification and output.name != PROBABILITIES:
                raise InvalidInputError(f"classification applies to the {PROBABILITIES!r} output, not {output.name!r}")
            if output.classification > classes:
                raise InvalidInputError(
                    f"classification: at most {classes} for model {name!r}, got {output.classification}"
                )
        return requested

    def v2_encode(
        self, requested: Sequence[RequestedOutput], prepared: Prepared[PayloadT], outputs: np.ndarray
    ) -> list[OutputTensor]:
        check_finite(outputs)
        batch = len(outputs)
        results = []
        for output in requested:
            if output.classification:
                k = output.classification
                strings = [f"{p:f}:{index}:{self.labels[index]}" for row in top_k(outputs, k) for index, p in row]
                results.append(OutputTensor(output.name, BYTES, (batch, k), strings, output.binary))
            elif output.name == PROBABILITIES:
                results.append(OutputTensor(output.name, "FP32", outputs.shape, outputs, output.binary))
            else:
                labels = self.label_values(outputs.argmax(axis=1))
                results.append(OutputTensor(output.name, self.label_datatype, (batch,), labels, output.binary))
        return results


def scores(ranked: Sequence[tuple[int, float]], key: str, names: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    """Ranked (index, probability) pairs as result dicts, e.g. [{"digit": 7, "probability": 0.98}]."""
    return [{key: names[i] if names is not None else i, "probability": p} for i, p in ranked]
