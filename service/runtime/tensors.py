"""Named tensors as the Open Inference Protocol (V2) describes them, free of any wire format.

Tasks turn input tensors into model rows and model outputs into output tensors; the V2 codec
reads and writes them on the wire (JSON or binary).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BYTES = "BYTES"


@dataclass(frozen=True)
class TensorSpec:
    """An input or output a model declares; -1 marks a variable dimension (the batch)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def describe(self) -> str:
        return f"{self.name} {self.datatype} {list(self.shape)}"


@dataclass(frozen=True)
class InputTensor:
    """A decoded input: numeric ``data`` is an ndarray of ``shape``; BYTES ``data`` is a flat list."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray | list[bytes]
    binary: bool


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool
    classification: int  # 0: the tensor itself; k: its top k as "value:index:label" strings


@dataclass(frozen=True)
class OutputTensor:
    """A numeric output is an ndarray (any shape, written row-major); BYTES is a flat list of strings."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray | Sequence[str]
    binary: bool
