"""Sequence labelling: a string over the model's vocabulary -> one output character per input
character, with per-position probabilities (the course's "hello" -> "ohlol" RNNs).

The models are causal, so a string padded to the length of the longest in its batch keeps its own
outputs; each result is cut back to its string's length. A payload is a list of checked strings.
"""

from collections.abc import Sequence
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import BaseModel, Field
from torch import nn

from artifacts import GoldenSamples, SequencePreprocessing
from artifacts.sequence import SequenceInputError, check_sequence, encode_sequences
from nets.course import per_position_probabilities
from service.runtime.errors import UnprocessableInputError
from service.runtime.graphs import Lane
from service.runtime.tensors import BYTES, InputTensor, OutputTensor, RequestedOutput, TensorSpec
from service.settings import Settings
from service.tasks.base import Batch, Prepared, Task, batch_size, text_input
from service.tasks.classification import Transformed, check_finite
from service.tasks.schemas import StrictRequest

OUTPUT, PROBABILITIES = "output", "probabilities"


class SequencesRequest(StrictRequest):
    sequences: list[Annotated[str, Field(max_length=1024)]] = Field(
        min_length=1, description="Strings over the model's vocabulary (see GET /v1/models/{name})."
    )


class PositionScore(BaseModel):
    input: str
    output: str
    probability: float


class SequencePrediction(BaseModel):
    input: str
    output: str
    positions: list[PositionScore]


class SequencesResponse(BaseModel):
    model: str
    version: int
    predictions: list[SequencePrediction]


class SequenceLabelling(Task[SequencesRequest, list[str]]):
    kind = "sequence-labelling"
    preprocessing = SequencePreprocessing
    request_model = SequencesRequest
    response_model = SequencesResponse
    items_field = "sequences"
    examples = {"hello": {"summary": "the course's example", "value": {"sequences": ["hello"]}}}
    errors = {
        400: "body not JSON",
        413: "body too large",
        422: "an empty or over-long string, a character outside the vocabulary, too many strings",
    }

    def __init__(self, manifest: Any, settings: Settings) -> None:
        super().__init__(manifest, settings)
        self.prep: SequencePreprocessing = manifest.preprocessing

    # ---- /v1 ----

    async def prepare(self, request: SequencesRequest) -> Prepared[list[str]]:
        return Prepared(self.checked(request.sequences, "sequences"), len(request.sequences))

    def checked(self, texts: Sequence[str], where: str) -> list[str]:
        for i, text in enumerate(texts):
            try:
                check_sequence(text, self.prep.vocabulary, self.prep.max_length)
            except SequenceInputError as exc:
                raise UnprocessableInputError(f"{where}[{i}]: {exc}") from None
        return list(texts)

    def encode(
        self, request: SequencesRequest, prepared: Prepared[list[str]], outputs: np.ndarray
    ) -> list[dict[str, Any]]:
        predictions = []
        for text, rows in zip(prepared.payload, self.per_string(prepared.payload, outputs), strict=True):
            best = rows.argmax(axis=1).tolist()
            positions = [
                {"input": char, "output": self.labels[index], "probability": float(row[index])}
                for char, index, row in zip(text, best, rows, strict=True)
            ]
            predictions.append({"input": text, "output": "".join(self.labels[i] for i in best), "positions": positions})
        return predictions

    def per_string(self, texts: Sequence[str], outputs: np.ndarray) -> list[np.ndarray]:
        """Each string's rows of per-position probabilities, without the batch's padding."""
        check_finite(outputs)
        return [outputs[i, : len(text)] for i, text in enumerate(texts)]

    # ---- V2 ----

    def v2_inputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec("sequences", BYTES, (-1,)),)

    def v2_outputs(self) -> tuple[TensorSpec, ...]:
        return TensorSpec(OUTPUT, BYTES, (-1,)), TensorSpec(PROBABILITIES, "FP32", (-1, -1, len(self.labels)))

    async def v2_prepare(self, inputs: list[InputTensor]) -> Prepared[list[str]]:
        tensor = self.single_input(inputs)
        texts = text_input(tensor)
        n = batch_size(tensor, 1, self.settings.max_rows, "[n] for n strings")
        return Prepared(self.checked(texts, "sequences"), n)

    def v2_encode(
        self, requested: Sequence[RequestedOutput], prepared: Prepared[list[str]], outputs: np.ndarray
    ) -> list[OutputTensor]:
        longest = max(len(text) for text in prepared.payload)
        probabilities = outputs[:, :longest]  # this request's padding only, not the batch's
        check_finite(probabilities)
        strings = [
            "".join(self.labels[i] for i in row[: len(text)])
            for text, row in zip(prepared.payload, probabilities.argmax(axis=2).tolist(), strict=True)
        ]
        results = []
        for output in requested:
            if output.name == OUTPUT:
                results.append(OutputTensor(OUTPUT, BYTES, (len(strings),), strings, output.binary))
            else:
                results.append(OutputTensor(PROBABILITIES, "FP32", probabilities.shape, probabilities, output.binary))
        return results

    # ---- the model ----

    def lanes(self, model: nn.Module, golden: GoldenSamples, device: torch.device) -> list[Lane]:
        texts = self.golden_payload(golden)
        tokens, _ = encode_sequences(texts, self.prep.vocabulary, self.prep.max_length)
        # Not traced: a trace would fix the number of steps of the RNN cell's loop to the example's.
        served = Transformed(model, per_position_probabilities)
        return [Lane("sequences", served, [((tokens,), golden.probabilities)])]

    def collate(self, payloads: Sequence[list[str]]) -> Batch:
        texts = [text for payload in payloads for text in payload]
        tokens, _ = encode_sequences(texts, self.prep.vocabulary, self.prep.max_length)
        return Batch("sequences", (tokens,), len(texts))

    def golden_payload(self, golden: GoldenSamples) -> list[str]:
        assert golden.names is not None, "sequence artifacts store golden strings"
        return list(golden.names)
