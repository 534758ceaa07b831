"""Regression: named float features -> one predicted value per row (the course's linear model)."""

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel

from service.runtime.tensors import OutputTensor, RequestedOutput, TensorSpec
from service.tasks.base import Prepared
from service.tasks.classification import check_finite
from service.tasks.tabular import TabularInputs, TabularRequest

VALUE = "value"


class RegressionPrediction(BaseModel):
    value: float


class RegressionResponse(BaseModel):
    model: str
    version: int
    predictions: list[RegressionPrediction]


class Regression(TabularInputs):
    kind = "regression"
    response_model = RegressionResponse
    examples = {"one_row": {"summary": "x = 4 for y = 2x", "value": {"inputs": [{"x": 4.0}]}}}
    errors = {
        400: "body not JSON",
        413: "body too large",
        422: "a missing or unknown feature, a value that is not a finite number or is out of range, too many rows",
    }

    def encode(
        self, request: TabularRequest, prepared: Prepared[np.ndarray], outputs: np.ndarray
    ) -> list[dict[str, Any]]:
        check_finite(outputs)
        return [{"value": row[0]} for row in outputs.tolist()]

    def v2_outputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec(VALUE, "FP32", (-1, 1)),)

    def v2_encode(
        self, requested: Sequence[RequestedOutput], prepared: Prepared[np.ndarray], outputs: np.ndarray
    ) -> list[OutputTensor]:
        check_finite(outputs)
        return [OutputTensor(output.name, "FP32", outputs.shape, outputs, output.binary) for output in requested]
