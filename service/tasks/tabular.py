"""What the tabular task kinds share: rows of named float features, checked against the manifest,
standardised inside the served graph with the training split's statistics.

A request is ``{"inputs": [{"glucose": 0.2, "bmi": -0.1, ...}, ...]}``; over V2, one FP32 input
``features`` of shape [n, number of features] in the manifest's column order. A payload is
float32 (n, features), raw as the client sent them.
"""

from collections.abc import Sequence
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import Field
from torch import nn

from artifacts import GoldenSamples, TabularPreprocessing
from artifacts.tabular import standardise
from service.runtime.errors import InvalidInputError, UnprocessableInputError
from service.runtime.graphs import Lane
from service.runtime.tensors import InputTensor, TensorSpec
from service.settings import Settings
from service.tasks.base import Batch, Prepared, Task, batch_size, numeric_input
from service.tasks.schemas import StrictRequest

# Finite numbers only, and a string is not a number: "4" gets a 422 that names the field.
FeatureValue = Annotated[float, Field(strict=True, allow_inf_nan=False)]
FEATURES_INPUT = "features"
FLOAT32_MAX = float(np.finfo(np.float32).max)


class TabularRequest(StrictRequest):
    inputs: list[dict[str, FeatureValue]] = Field(
        min_length=1, description="One object per row: every feature of the model by name (see GET /v1/models/{name})."
    )


class StandardisedModel(nn.Module):
    """Raw features -> the model's output, with the manifest's standardisation inside the graph, so
    the golden check covers the scaling constants too."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, model: nn.Module, prep: TabularPreprocessing) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(prep.mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(prep.std, dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        output: torch.Tensor = self.model(standardise(features, self.mean, self.std))
        return output


class TabularInputs(Task[TabularRequest, np.ndarray]):
    """Parsing, checking and batching of feature rows, for any task kind whose model reads them."""

    preprocessing = TabularPreprocessing
    request_model = TabularRequest
    items_field = "inputs"

    def __init__(self, manifest: Any, settings: Settings) -> None:
        super().__init__(manifest, settings)
        self.prep: TabularPreprocessing = manifest.preprocessing
        self.feature_names = self.prep.feature_names

    async def prepare(self, request: TabularRequest) -> Prepared[np.ndarray]:
        rows = []
        for i, row in enumerate(request.inputs):
            missing = [name for name in self.feature_names if name not in row]
            unknown = sorted(set(row) - set(self.feature_names))
            if missing or unknown:
                problem = f"missing {missing}" if missing else f"unknown {unknown}"
                raise UnprocessableInputError(f"inputs[{i}]: {problem}; the features are {self.feature_names}")
            rows.append([row[name] for name in self.feature_names])
        features = np.asarray(rows, dtype=np.float64)
        self.check_ranges(features, "inputs")
        return Prepared(features.astype(np.float32), len(features))

    def check_ranges(self, features: np.ndarray, where: str) -> None:
        """Values outside a feature's documented range (or past float32's) are refused, naming the value."""
        representable = np.isfinite(features) & (np.abs(features) <= FLOAT32_MAX)
        if not representable.all():
            row, column = np.argwhere(~representable)[0]
            raise UnprocessableInputError(f"{where}[{row}].{self.feature_names[column]}: must be a finite number")
        for column, feature in enumerate(self.prep.features):
            values = features[:, column]
            low = feature.minimum if feature.minimum is not None else -np.inf
            high = feature.maximum if feature.maximum is not None else np.inf
            outside = np.flatnonzero((values < low) | (values > high))
            if len(outside):
                row, unit = int(outside[0]), f" {feature.unit}" if feature.unit else ""
                raise UnprocessableInputError(
                    f"{where}[{row}].{feature.name}: {float(values[row]):g} is outside the accepted range, "
                    f"{low:g} to {high:g}{unit}"
                )

    def request_schema(self) -> dict[str, Any]:
        """The generic schema, with this model's features as the properties of a row."""
        schema = self.request_model.model_json_schema()
        properties = {}
        for feature in self.prep.features:
            prop: dict[str, Any] = {"type": "number", "title": feature.name}
            if feature.minimum is not None:
                prop["minimum"] = feature.minimum
            if feature.maximum is not None:
                prop["maximum"] = feature.maximum
            prop["description"] = f"{feature.description} ({feature.unit})" if feature.unit else feature.description
            properties[feature.name] = prop
        row = {
            "type": "object",
            "properties": properties,
            "required": self.feature_names,
            "additionalProperties": False,
        }
        schema["properties"]["inputs"]["items"] = row
        return schema

    def request_example(self) -> dict[str, Any]:
        def middle(low: float | None, high: float | None) -> float:
            return round((low + high) / 2, 3) if low is not None and high is not None else 1.0

        row = {f.name: middle(f.minimum, f.maximum) for f in self.prep.features}
        return {"inputs": [row]}

    # ---- V2 ----

    def v2_inputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec(FEATURES_INPUT, "FP32", (-1, len(self.feature_names))),)

    async def v2_prepare(self, inputs: list[InputTensor]) -> Prepared[np.ndarray]:
        tensor = self.single_input(inputs)
        columns = len(self.feature_names)
        n = batch_size(tensor, 2, self.settings.max_rows, f"[n, {columns}] (features {self.feature_names})")
        if tensor.datatype != "FP32" or tensor.shape[1] != columns:
            raise InvalidInputError(
                f"input {FEATURES_INPUT!r} must be FP32 [n, {columns}], one column per feature in the order "
                f"{self.feature_names}; got {tensor.datatype} {list(tensor.shape)}"
            )
        features = numeric_input(tensor)
        self.check_ranges(features, FEATURES_INPUT)
        return Prepared(features, n)

    # ---- the model ----

    def lanes(self, model: nn.Module, golden: GoldenSamples, device: torch.device) -> list[Lane]:
        assert golden.features is not None, "tabular artifacts store golden features"
        served = self.served_module(StandardisedModel(model, self.prep).to(device))
        example = (golden.features[:2].float().to(device),)
        return [Lane("features", served, [((golden.features.float(),), golden.probabilities)], example)]

    def served_module(self, model: nn.Module) -> nn.Module:
        """The standardised model's output -> what this kind serves (identity by default)."""
        return model

    def collate(self, payloads: Sequence[np.ndarray]) -> Batch:
        batch = payloads[0] if len(payloads) == 1 else np.concatenate(payloads)
        return Batch("features", (torch.from_numpy(batch),), len(batch))

    def golden_payload(self, golden: GoldenSamples) -> np.ndarray:
        assert golden.features is not None, "tabular artifacts store golden features"
        features: np.ndarray = golden.features.float().numpy()
        return features
