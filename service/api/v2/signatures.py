"""What each kind of model takes and returns over V2, and the step to and from runner payloads.

One signature per task, as one runner per task: a new kind of model is one new class here.
Inputs become exactly the payloads /v1 submits (uint8 pixels, folded names), so V2 and /v1
requests for one model share the dynamic batcher; float input is the one V2-only payload.
"""

import asyncio
import base64
import binascii
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from artifacts import ImagePreprocessing
from artifacts.manifest import Task
from service.api.v2.codec import BYTES, DecodedRequest, InputTensor, OutputTensor, RequestedOutput
from service.api.v2.schemas import ModelMetadata, TensorMetadata
from service.runtime.errors import InvalidInputError, RuntimeServiceError
from service.runtime.runners import DigitRunner, ModelRunner, NameRunner, top_k
from service.settings import Settings

PLATFORM = "pytorch"
PROBABILITIES, LABEL = "probabilities", "label"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    shape: tuple[int, ...]  # -1: any size (the batch)

    def metadata(self) -> TensorMetadata:
        return TensorMetadata(name=self.name, datatype=self.datatype, shape=list(self.shape))

    def describe(self) -> str:
        return f"{self.name} {self.datatype} {list(self.shape)}"


class Signature(ABC):
    """Inputs -> one runner payload; probabilities -> the ``probabilities`` and ``label`` outputs."""

    task: ClassVar[Task]
    inputs: ClassVar[tuple[TensorSpec, ...]]
    label_datatype: ClassVar[str]

    def output_specs(self, classes: int) -> tuple[TensorSpec, ...]:
        return TensorSpec(PROBABILITIES, "FP32", (-1, classes)), TensorSpec(LABEL, self.label_datatype, (-1,))

    def metadata(self, name: str, version: int, runner: ModelRunner) -> ModelMetadata:
        return ModelMetadata(
            name=name,
            versions=[str(version)],
            platform=PLATFORM,
            inputs=[spec.metadata() for spec in self.inputs],
            outputs=[spec.metadata() for spec in self.output_specs(len(runner.labels))],
        )

    def requested_outputs(self, request: DecodedRequest, name: str, runner: ModelRunner) -> list[RequestedOutput]:
        """The outputs to return, checked before any inference runs."""
        if request.outputs is None:
            return [
                RequestedOutput(PROBABILITIES, request.binary_output, 0),
                RequestedOutput(LABEL, request.binary_output, 0),
            ]
        classes = len(runner.labels)
        for output in request.outputs:
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
        return request.outputs

    def outputs(
        self, requested: Sequence[RequestedOutput], probabilities: np.ndarray, runner: ModelRunner
    ) -> list[OutputTensor]:
        batch = len(probabilities)
        results = []
        for output in requested:
            if output.classification:
                k = output.classification
                ranked = top_k(probabilities, k)
                strings = [f"{p:f}:{index}:{runner.labels[index]}" for row in ranked for index, p in row]
                results.append(OutputTensor(output.name, BYTES, (batch, k), strings, output.binary))
            elif output.name == PROBABILITIES:
                results.append(OutputTensor(output.name, "FP32", probabilities.shape, probabilities, output.binary))
            else:
                datatype, labels = self.labels(probabilities.argmax(axis=1), runner)
                results.append(OutputTensor(output.name, datatype, (batch,), labels, output.binary))
        return results

    @abstractmethod
    def labels(self, indices: np.ndarray, runner: ModelRunner) -> tuple[str, np.ndarray | list[str]]:
        """The ``label`` output's datatype and values for the most probable class indices."""

    @abstractmethod
    def item_limit(self, settings: Settings) -> int:
        """The most items (images, names) one request may carry."""

    @abstractmethod
    async def prepare(self, inputs: list[InputTensor], runner: ModelRunner, limit: int) -> tuple[Any, int]:
        """The runner payload for these inputs and its number of items (at most ``limit``)."""

    def _single_input(self, inputs: list[InputTensor], name: str) -> InputTensor:
        if len(inputs) != 1 or inputs[0].name not in {spec.name for spec in self.inputs}:
            given = ", ".join(repr(tensor.name) for tensor in inputs)
            accepted = " or ".join(spec.describe() for spec in self.inputs)
            raise InvalidInputError(f"model {name!r} takes exactly one input, {accepted}; got {given}")
        return inputs[0]


def _batch_size(tensor: InputTensor, rank: int, limit: int, expected: str) -> int:
    if len(tensor.shape) != rank:
        raise InvalidInputError(f"input {tensor.name!r}: shape {list(tensor.shape)} should be {expected}")
    n = tensor.shape[0]
    if not 1 <= n <= limit:
        raise InvalidInputError(f"input {tensor.name!r}: batch of {n}; send 1 to {limit} items per request")
    return n


class DigitsSignature(Signature):
    task = "image-classification"
    # Metadata has one datatype per input: `images` also takes FP32 [-1, 1, 28, 28], already normalised.
    inputs = (TensorSpec("images", "UINT8", (-1, 28, 28)), TensorSpec("image_bytes", BYTES, (-1,)))
    label_datatype = "INT64"

    def labels(self, indices: np.ndarray, runner: ModelRunner) -> tuple[str, np.ndarray | list[str]]:
        return self.label_datatype, indices.astype(np.int64)  # digit models' class index is the digit

    def item_limit(self, settings: Settings) -> int:
        return settings.max_images

    async def prepare(self, inputs: list[InputTensor], runner: ModelRunner, limit: int) -> tuple[Any, int]:
        assert isinstance(runner, DigitRunner)
        tensor = self._single_input(inputs, runner.manifest.name)
        if tensor.name == "image_bytes":
            n = _batch_size(tensor, 1, limit, "[n] for n encoded image files")
            if tensor.datatype != BYTES:
                raise InvalidInputError(f"input 'image_bytes' must be BYTES (PNG/JPEG files), not {tensor.datatype}")
            assert isinstance(tensor.data, list)
            files = tensor.data if tensor.binary else [_b64decode(text, i) for i, text in enumerate(tensor.data)]
            return await asyncio.to_thread(_decode_files, runner, files), n  # CPU work: off the event loop
        assert isinstance(tensor.data, np.ndarray)
        if tensor.datatype == "UINT8":
            n = _batch_size(tensor, 3, limit, "[n, 28, 28]")
            if tensor.shape[1:] != (28, 28):
                raise InvalidInputError(f"input 'images': shape {list(tensor.shape)} should be [n, 28, 28]")
            return _writable(tensor.data), n
        if tensor.datatype == "FP32":
            n = _batch_size(tensor, 4, limit, "[n, 1, 28, 28]")
            if tensor.shape[1:] != (1, 28, 28):
                raise InvalidInputError(f"input 'images': shape {list(tensor.shape)} should be [n, 1, 28, 28]")
            if not np.isfinite(tensor.data).all():
                raise InvalidInputError("input 'images': FP32 values must be finite (no NaN or infinity)")
            return _writable(tensor.data), n
        prep = runner.manifest.preprocessing
        assert isinstance(prep, ImagePreprocessing)
        raise InvalidInputError(
            f"input 'images' must be UINT8 [-1, 28, 28] (pixels 0..255, white digit on black) or "
            f"FP32 [-1, 1, 28, 28] (pixels / 255, then (x - {prep.mean}) / {prep.std}); got {tensor.datatype}"
        )


class NamesSignature(Signature):
    task = "text-classification"
    inputs = (TensorSpec("names", BYTES, (-1,)),)
    label_datatype = BYTES

    def labels(self, indices: np.ndarray, runner: ModelRunner) -> tuple[str, np.ndarray | list[str]]:
        return self.label_datatype, [runner.labels[i] for i in indices.tolist()]

    def item_limit(self, settings: Settings) -> int:
        return settings.max_names

    async def prepare(self, inputs: list[InputTensor], runner: ModelRunner, limit: int) -> tuple[Any, int]:
        assert isinstance(runner, NameRunner)
        tensor = self._single_input(inputs, runner.manifest.name)
        if tensor.datatype != BYTES:
            raise InvalidInputError(f"input 'names' must be BYTES (UTF-8 strings), not {tensor.datatype}")
        n = _batch_size(tensor, 1, limit, "[n] for n names")
        assert isinstance(tensor.data, list)
        names = []
        for i, raw in enumerate(tensor.data):
            try:
                names.append(raw.decode())
            except UnicodeDecodeError:
                raise InvalidInputError(f"names[{i}] is not valid UTF-8") from None
        return runner.prepare_names(names), n


SIGNATURES: dict[Task, Signature] = {s.task: s for s in (DigitsSignature(), NamesSignature())}


def _writable(array: np.ndarray) -> np.ndarray:
    """Binary tensors are read-only views of the request body; torch wants arrays it may write."""
    return array if array.flags.writeable and array.flags.c_contiguous else array.copy()


def _b64decode(text: bytes, index: int) -> bytes:
    """In JSON, image_bytes elements are base64 strings (data URLs too); in binary, the files themselves."""
    if text.startswith(b"data:"):
        text = text.partition(b",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(
            f"image_bytes[{index}]: in JSON, send each file base64-encoded (or send the input as binary data)"
        ) from None


def _decode_files(runner: DigitRunner, files: list[bytes]) -> np.ndarray:
    arrays = []
    for i, data in enumerate(files):
        try:
            arrays.append(runner.prepare_image(data))
        except RuntimeServiceError as exc:
            raise type(exc)(f"image_bytes[{i}]: {exc}") from None
    return np.concatenate(arrays)
