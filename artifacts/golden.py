"""Golden samples: fixed inputs with the probabilities the model gave at training time.

A server that reproduces them after loading proves that weights, architecture,
pre-processing constants and label order all match what training used.
"""

from dataclasses import dataclass

import torch

GOLDEN_FILE = "golden.safetensors"


@dataclass(frozen=True)
class GoldenSamples:
    """``pixels`` (N, 28, 28) uint8 for image models, ``names`` for text models."""

    probabilities: torch.Tensor
    pixels: torch.Tensor | None = None
    names: list[str] | None = None

    def max_abs_error(self, probabilities: torch.Tensor) -> float:
        return float((probabilities.float().cpu() - self.probabilities).abs().max())
