"""A digits classifier small enough to train in seconds: one convolution, one linear layer."""

import torch
from torch import nn


class TinyDigitsNet(nn.Module):
    """(N, 1, 28, 28) normalised pixels -> logits (N, 10). Keyword arguments are the manifest's
    ``architecture_args``: the training CLI passes ``dropout``."""

    def __init__(self, channels: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, channels, 5, stride=2), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels * 6 * 6, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.features(x))
        return logits
