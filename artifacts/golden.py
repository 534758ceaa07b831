"""Golden samples: fixed inputs with the outputs the model gave at training time.

A server that reproduces them after loading proves that weights, architecture,
pre-processing constants and label order all match what training used.
"""

from dataclasses import dataclass

import torch

GOLDEN_FILE = "golden.safetensors"


@dataclass(frozen=True)
class GoldenSamples:
    """Inputs as a client sends them, and exactly what the served graph returns for them.

    Inputs: ``pixels`` (N, 28, 28) uint8 for image models; ``features`` (N, F) float32 raw,
    unscaled feature values for tabular models; ``names`` (the raw strings) for text and
    sequence models. ``probabilities``: class probabilities (N, C); the predicted values
    (N, 1) of a regression; per-position class probabilities (N, T, C) of a sequence model,
    whose golden strings therefore share one length.
    """

    probabilities: torch.Tensor
    pixels: torch.Tensor | None = None
    names: list[str] | None = None
    features: torch.Tensor | None = None

    def max_abs_error(self, probabilities: torch.Tensor) -> float:
        return float((probabilities.float().cpu() - self.probabilities).abs().max())
