"""Tabular classification: named float features -> class probabilities (the course's diabetes model
and logistic regression). A model with one sigmoid output is a binary classifier: p -> [1 - p, p]."""

from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, Field
from torch import nn

from nets.course import binary_probabilities
from service.runtime.tensors import BYTES
from service.tasks.base import Prepared
from service.tasks.classification import ClassificationTask, SoftmaxOutputs, Transformed, scores
from service.tasks.tabular import TabularInputs, TabularRequest


class TabularClassificationRequest(TabularRequest):
    top_k: int = Field(2, ge=1, le=1000, strict=True, description="1..number of classes.")


class LabelScore(BaseModel):
    label: str
    probability: float


class TabularPrediction(LabelScore):
    top_k: list[LabelScore]


class TabularClassificationResponse(BaseModel):
    model: str
    version: int
    predictions: list[TabularPrediction]


class TabularClassification(TabularInputs, ClassificationTask[TabularRequest, np.ndarray]):
    kind = "tabular-classification"
    request_model = TabularClassificationRequest
    response_model = TabularClassificationResponse
    examples = {"one_row": {"summary": "hours studied", "value": {"inputs": [{"hours": 4.0}], "top_k": 2}}}
    errors = {
        400: "body not JSON",
        413: "body too large",
        422: "a missing or unknown feature, a value that is not a finite number or is out of range, too many rows, "
        "top_k out of range",
    }
    label_datatype = BYTES

    async def prepare(self, request: TabularRequest) -> Prepared[np.ndarray]:
        assert isinstance(request, TabularClassificationRequest)
        self.check_top_k(request.top_k)
        return await super().prepare(request)

    def encode(
        self, request: TabularRequest, prepared: Prepared[np.ndarray], outputs: np.ndarray
    ) -> list[dict[str, Any]]:
        assert isinstance(request, TabularClassificationRequest)
        return [
            {
                "label": self.labels[ranked[0][0]],
                "probability": ranked[0][1],
                "top_k": scores(ranked, "label", self.labels),
            }
            for ranked in self.ranked(outputs, request.top_k)
        ]

    def label_values(self, indices: np.ndarray) -> list[str]:
        return [self.labels[i] for i in indices.tolist()]

    def served_module(self, model: nn.Module) -> nn.Module:
        """One output and two labels: a sigmoid's probability of the second label; else logits."""
        device = next(model.parameters()).device
        with torch.inference_mode():
            outputs = model(torch.zeros(1, len(self.feature_names), device=device)).shape[-1]
        return (
            Transformed(model, binary_probabilities)
            if outputs == 1 and len(self.labels) == 2
            else SoftmaxOutputs(model)
        )

    def request_example(self) -> dict[str, Any]:
        return {**super().request_example(), "top_k": 2}
