"""A task kind of its own: image classification whose predictions also say how unsure the model is.

It reuses everything of the built-in image task (schemas, decoding, graphs, V2) and changes only
how results are encoded, which is what most custom tasks need.
"""

from typing import Any

import numpy as np
from pydantic import Field

from service.tasks.base import Prepared
from service.tasks.image_classification import DigitPrediction, DigitsPredictResponse, ImageClassification, ImageItems


class EntropyPrediction(DigitPrediction):
    entropy: float = Field(description="Shannon entropy of the probabilities, in bits: 0 sure, 3.32 a guess.")


class EntropyResponse(DigitsPredictResponse):
    predictions: list[EntropyPrediction]  # type: ignore[assignment]


class DigitsWithEntropy(ImageClassification):
    kind = "digits-with-entropy"
    response_model = EntropyResponse

    def encode(self, request: ImageItems, prepared: Prepared[np.ndarray], outputs: np.ndarray) -> list[dict[str, Any]]:
        predictions = super().encode(request, prepared, outputs)
        entropies = -(outputs * np.log2(np.clip(outputs, 1e-12, 1.0))).sum(axis=1)
        for prediction, entropy in zip(predictions, entropies.tolist(), strict=True):
            prediction["entropy"] = entropy
        return predictions
