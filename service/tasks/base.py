"""The contract every kind of model fulfils: one ``Task`` subclass per task kind.

A task owns what is specific to its kind: the request and response schemas, how inputs (JSON
items, files, V2 tensors) become model rows, how rows are batched into the model's inputs, which
graphs can run them, and how the model's outputs become typed results. The runner, batcher,
registry and protocol adapters know nothing of any kind, so serving a new kind of model is one
new class (registered in ``service.tasks`` or through the ``tinyserve.tasks`` entry point).

The life of a /v1 request: ``parse`` (classmethod: the body into the task's typed request,
before any model is chosen) -> ``prepare`` (the request into one payload of model rows) ->
the batcher concatenates payloads and the runner calls ``collate`` and the lane's graph ->
``encode`` (each request's output rows into its results). V2 requests take ``v2_prepare`` and
``v2_encode`` instead.
"""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, cast

import numpy as np
import torch
from pydantic import BaseModel
from torch import nn

from artifacts import GoldenSamples, ModelManifest
from service.runtime.errors import InvalidInputError, UnprocessableInputError
from service.runtime.graphs import Inputs, Lane
from service.runtime.tensors import BYTES, InputTensor, OutputTensor, RequestedOutput, TensorSpec
from service.settings import Settings
from service.tasks.schemas import validate_json

RequestT = TypeVar("RequestT")
PayloadT = TypeVar("PayloadT")


@dataclass(frozen=True)
class Prepared(Generic[PayloadT]):
    """One request's model rows: what the batcher queues, and how many items it counts as."""

    payload: PayloadT
    size: int


@dataclass(frozen=True)
class Batch:
    """Several requests' payloads as the inputs of one lane's graph."""

    lane: str
    inputs: Inputs
    rows: int


class Task(ABC, Generic[RequestT, PayloadT]):
    kind: ClassVar[str]
    preprocessing: ClassVar[type[BaseModel]]  # the manifest's preprocessing section this kind needs
    request_model: ClassVar[type[BaseModel]]  # the body of POST /v1/models/{name}/predict
    response_model: ClassVar[type[BaseModel]]
    examples: ClassVar[dict[str, Any]]  # OpenAPI examples of ``request_model``
    errors: ClassVar[dict[int, str]]  # the client errors its routes document, status -> when
    items_field: ClassVar[str]  # the request's list of items, counted against ``item_limit``
    accepts_files: ClassVar[bool] = False  # the upload route (multipart files) serves this kind

    def __init__(self, manifest: ModelManifest, settings: Settings) -> None:
        if not isinstance(manifest.preprocessing, self.preprocessing):
            raise TypeError(
                f"model {manifest.name!r}: a {self.kind} model needs {self.preprocessing.__name__}, "
                f"the manifest has {type(manifest.preprocessing).__name__}"
            )
        self.manifest = manifest
        self.labels = list(manifest.labels)
        self.settings = settings

    # ---- /v1 ----

    @classmethod
    def parse(cls, body: bytes, schema: type[BaseModel], settings: Settings) -> tuple[RequestT, str | None]:
        """A JSON body as this kind's request (validated against ``schema``), and the model it names.

        By default the body is validated by pydantic-core in one pass and its list of items (the
        field ``items_field`` names) is held to ``item_limit``; a kind with a faster parser overrides this.
        """
        parsed = validate_json(schema, body)
        check_count(cls.items_field, len(getattr(parsed, cls.items_field)), cls.item_limit(settings))
        return cast(RequestT, parsed), getattr(parsed, "model", None)

    @classmethod
    def item_limit(cls, settings: Settings) -> int:
        """The most items (images, names, rows) one request may carry."""
        return settings.max_rows

    @classmethod
    def parse_files(cls, files: Sequence[bytes], top_k: int, return_preprocessed: bool, settings: Settings) -> RequestT:
        """Uploaded files as this kind's request; only kinds with ``accepts_files`` take them."""
        raise UnprocessableInputError(f"{cls.kind} models take no file uploads; send JSON to .../predict")

    @abstractmethod
    async def prepare(self, request: RequestT) -> Prepared[PayloadT]:
        """The request's model rows; raises a domain error naming the item that cannot be used."""

    @abstractmethod
    def encode(self, request: RequestT, prepared: Prepared[PayloadT], outputs: np.ndarray) -> list[dict[str, Any]]:
        """One result per item, from this request's rows of the model's outputs."""

    def request_schema(self) -> dict[str, Any]:
        """The JSON schema of this model's body for POST /v1/models/{name}/predict."""
        return self.request_model.model_json_schema()

    def request_example(self) -> dict[str, Any]:
        """A worked body for this model."""
        example: dict[str, Any] = next(iter(self.examples.values()))["value"]
        return example

    # ---- V2 (Open Inference Protocol) ----

    @abstractmethod
    def v2_inputs(self) -> tuple[TensorSpec, ...]:
        """The inputs this model declares in its V2 metadata."""

    @abstractmethod
    def v2_outputs(self) -> tuple[TensorSpec, ...]:
        """The outputs this model declares in its V2 metadata."""

    @abstractmethod
    async def v2_prepare(self, inputs: list[InputTensor]) -> Prepared[PayloadT]:
        """V2 input tensors as model rows (the same payloads /v1 submits, so both share batches)."""

    @abstractmethod
    def v2_encode(
        self, requested: Sequence[RequestedOutput], prepared: Prepared[PayloadT], outputs: np.ndarray
    ) -> list[OutputTensor]:
        """The requested output tensors, from this request's rows of the model's outputs."""

    def v2_requested(self, requested: list[RequestedOutput] | None, binary: bool) -> list[RequestedOutput]:
        """The outputs to return (all of them by default), checked before any inference runs."""
        names = [spec.name for spec in self.v2_outputs()]
        if requested is None:
            return [RequestedOutput(name, binary, 0) for name in names]
        for output in requested:
            if output.name not in names:
                known = " and ".join(repr(name) for name in names)
                raise InvalidInputError(
                    f"unknown output {output.name!r}; model {self.manifest.name!r} has outputs {known}"
                )
            if output.classification:
                raise InvalidInputError(f"classification does not apply to {self.kind} outputs")
        return requested

    def single_input(self, inputs: list[InputTensor]) -> InputTensor:
        """The one input tensor this kind takes, under one of its declared names."""
        if len(inputs) != 1 or inputs[0].name not in {spec.name for spec in self.v2_inputs()}:
            given = ", ".join(repr(tensor.name) for tensor in inputs)
            accepted = " or ".join(spec.describe() for spec in self.v2_inputs())
            raise InvalidInputError(f"model {self.manifest.name!r} takes exactly one input, {accepted}; got {given}")
        return inputs[0]

    # ---- the model ----

    @abstractmethod
    def lanes(self, model: nn.Module, golden: GoldenSamples, device: torch.device) -> list[Lane]:
        """The kinds of batch this model takes, each with its eager module and golden check."""

    @abstractmethod
    def collate(self, payloads: Sequence[PayloadT]) -> Batch:
        """Several requests' payloads, in order, as the inputs of one lane."""

    @abstractmethod
    def golden_payload(self, golden: GoldenSamples) -> PayloadT:
        """The artifact's golden inputs, prepared exactly as a request's would be."""


def check_count(what: str, count: int, limit: int) -> None:
    if count > limit:
        raise UnprocessableInputError(f"{count} {what} sent; at most {limit} per request")


def batch_size(tensor: InputTensor, rank: int, limit: int, expected: str) -> int:
    """The batch dimension of a V2 input of ``rank`` dimensions, within 1..``limit``."""
    if len(tensor.shape) != rank:
        raise InvalidInputError(f"input {tensor.name!r}: shape {list(tensor.shape)} should be {expected}")
    n = tensor.shape[0]
    if not 1 <= n <= limit:
        raise InvalidInputError(f"input {tensor.name!r}: batch of {n}; send 1 to {limit} items per request")
    return n


def numeric_input(tensor: InputTensor) -> np.ndarray:
    """A numeric V2 input's values, writable and contiguous as torch wants them."""
    if not isinstance(tensor.data, np.ndarray):
        raise InvalidInputError(f"input {tensor.name!r} must be a numeric tensor, not {tensor.datatype}")
    array = tensor.data
    return array if array.flags.writeable and array.flags.c_contiguous else array.copy()


def bytes_input(tensor: InputTensor, what: str) -> list[bytes]:
    if not isinstance(tensor.data, list):
        raise InvalidInputError(f"input {tensor.name!r} must be BYTES ({what}), not {tensor.datatype}")
    return tensor.data


def text_input(tensor: InputTensor) -> list[str]:
    """A BYTES input's elements as UTF-8 strings, naming the first that is not."""
    if tensor.datatype != BYTES:
        raise InvalidInputError(f"input {tensor.name!r} must be BYTES (UTF-8 strings), not {tensor.datatype}")
    texts = []
    for i, raw in enumerate(bytes_input(tensor, "UTF-8 strings")):
        try:
            texts.append(raw.decode())
        except UnicodeDecodeError:
            raise InvalidInputError(f"{tensor.name}[{i}] is not valid UTF-8") from None
    return texts
