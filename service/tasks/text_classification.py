"""Text classification of short names: a surname in any script -> the country it most likely comes from.

Names are folded to the model's alphabet (``artifacts.text``, shared with training) and
encoded character by character. A payload is a list of folded names.
"""

import unicodedata
from collections.abc import Sequence
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import BaseModel, Field
from torch import nn

from artifacts import GoldenSamples, TextPreprocessing
from artifacts.text import FOLDING_RULE, encode_names, fold_name, has_letter
from nets.names import NamesGRU, StepwiseNamesGRU
from service.runtime.errors import UnprocessableInputError
from service.runtime.graphs import Alternative, Graph, Lane, scripted_graph
from service.runtime.tensors import BYTES, InputTensor, TensorSpec
from service.settings import Settings
from service.tasks.base import Batch, Prepared, batch_size, text_input
from service.tasks.classification import ClassificationTask, SoftmaxOutputs, scores
from service.tasks.schemas import StrictRequest

STEPWISE_PROBES = (1, 4, 16, 32, 64)  # batch sizes at which the stepwise GRU is timed against PyTorch's
STEPWISE_FIXED_UNTIL = 16  # up to where it runs when autotuning is off

Name = Annotated[str, Field(max_length=1024)]


class NamesRequest(StrictRequest):
    names: list[Name] = Field(
        min_length=1, fail_fast=True, description="Surnames in any script; at most TINYSERVE_MAX_NAMES (256)."
    )
    top_k: int = Field(3, ge=1, le=1000, strict=True, description="1..number of classes.")


class NamesPredictRequest(NamesRequest):
    top_k: int = Field(3, ge=1, le=18, strict=True, description="1..number of countries (18).")
    model: str | None = Field(None, description="A names model; default: configured or most accurate.")


class CountryScore(BaseModel):
    country: str
    probability: float


class NamePrediction(CountryScore):
    name: str
    normalized: str
    top_k: list[CountryScore]


class NamesPredictResponse(BaseModel):
    model: str
    version: int
    predictions: list[NamePrediction]


class PaddedSoftmax(nn.Module):
    """Tokens padded to one length, with each row's true length -> class probabilities."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.model(tokens, lengths)
        return logits.softmax(dim=1)


class TextClassification(ClassificationTask[NamesRequest, list[str]]):
    kind = "text-classification"
    preprocessing = TextPreprocessing
    request_model = NamesRequest
    response_model = NamesPredictResponse
    examples = {
        "names": {"summary": "surnames in several scripts", "value": {"names": ["Nakamura", "Dvořák", "Иванов"]}}
    }
    errors = {
        400: "body not JSON",
        413: "body too large",
        422: "empty name, no letter after folding, over 64 characters, too many names, top_k out of range",
    }
    label_datatype = BYTES
    items_field = "names"

    def __init__(self, manifest: Any, settings: Settings) -> None:
        super().__init__(manifest, settings)
        prep = manifest.preprocessing
        if prep.folding != FOLDING_RULE:
            raise ValueError(
                f"model {manifest.name!r}: trained with name folding {prep.folding!r} but this server folds with "
                f"{FOLDING_RULE!r}; retrain the model or serve it with a matching tinyserve version"
            )
        self.vocabulary: str = prep.vocabulary
        self.max_length: int = prep.max_length

    # ---- /v1 ----

    @classmethod
    def item_limit(cls, settings: Settings) -> int:
        return settings.max_names

    async def prepare(self, request: NamesRequest) -> Prepared[list[str]]:
        self.check_top_k(request.top_k)
        folded = self.fold(request.names)
        return Prepared(folded, len(folded))

    def encode(self, request: NamesRequest, prepared: Prepared[list[str]], outputs: np.ndarray) -> list[dict[str, Any]]:
        labels = self.labels
        return [
            {
                "name": raw,
                "normalized": normalized,
                "country": labels[ranked[0][0]],
                "probability": ranked[0][1],
                "top_k": scores(ranked, "country", labels),
            }
            for raw, normalized, ranked in zip(
                request.names, prepared.payload, self.ranked(outputs, request.top_k), strict=True
            )
        ]

    def label_values(self, indices: np.ndarray) -> list[str]:
        return [self.labels[i] for i in indices.tolist()]

    def fold(self, names: Sequence[str]) -> list[str]:
        """Fold each name; reject the ones no model could read, naming which."""
        folded = []
        limit = self.max_length
        for i, raw in enumerate(names):
            # Composed first, so a length counts characters as a reader sees them, however they were typed.
            stripped = unicodedata.normalize("NFC", raw).strip()
            if not stripped:
                raise UnprocessableInputError(f"names[{i}] is empty or only whitespace")
            if len(stripped) > limit:
                raise UnprocessableInputError(
                    f"names[{i}] has {len(stripped)} characters; at most {limit} are accepted"
                )
            name = fold_name(stripped)
            if not has_letter(name):
                raise UnprocessableInputError(
                    f"names[{i}] ({raw!r}) has no Latin letter after transliteration to ASCII"
                )
            folded.append(name[:limit])
        return folded

    # ---- V2 ----

    def v2_inputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec("names", BYTES, (-1,)),)

    async def v2_prepare(self, inputs: list[InputTensor]) -> Prepared[list[str]]:
        tensor = self.single_input(inputs)
        names = text_input(tensor)
        n = batch_size(tensor, 1, self.settings.max_names, "[n] for n names")
        return Prepared(self.fold(names), n)

    # ---- the model ----

    def lanes(self, model: nn.Module, golden: GoldenSamples, device: torch.device) -> list[Lane]:
        names = self.golden_payload(golden)
        alone = [((self.tokens([name]),), golden.probabilities[i : i + 1]) for i, name in enumerate(names)]
        stepwise = Alternative(
            build=lambda graph: _stepwise(model),
            regime="until",
            probes=STEPWISE_PROBES,
            fixed_threshold=STEPWISE_FIXED_UNTIL,
            inputs_for=lambda rows: (self.tokens([names[0]] * rows),),
        )
        tokens, lengths = encode_names(names, self.vocabulary)
        return [
            # Batches with no padding (every request of one name) skip packing, so they can be traced.
            Lane("unpadded", SoftmaxOutputs(model).eval(), alone, (self.tokens(["ab"]),), stepwise),
            Lane("padded", PaddedSoftmax(model).eval(), [((tokens, lengths), golden.probabilities)]),
        ]

    def collate(self, payloads: Sequence[list[str]]) -> Batch:
        names = [name for payload in payloads for name in payload]
        tokens, lengths = encode_names(names, self.vocabulary)
        if bool((lengths == tokens.shape[1]).all()):
            return Batch("unpadded", (tokens,), len(names))
        return Batch("padded", (tokens, lengths), len(names))

    def tokens(self, names: list[str]) -> torch.Tensor:
        return encode_names(names, self.vocabulary)[0]

    def golden_payload(self, golden: GoldenSamples) -> list[str]:
        assert golden.names is not None, "text artifacts store golden names"
        return self.fold(golden.names)


def _stepwise(model: nn.Module) -> Graph | None:
    """The bidirectional GRU one step at a time, both directions in one matmul per step: fewer
    operations than PyTorch's GRU for one name, so faster for small batches."""
    if not isinstance(model, NamesGRU):
        return None
    return scripted_graph(SoftmaxOutputs(StepwiseNamesGRU(model)), "stepwise")
