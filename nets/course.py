"""The course's first models: linear and logistic regression, the diabetes MLP, the hello RNNs.

Each returns what the service serves (a value, a probability, per-position logits), and
the output transforms below turn that into the task's probabilities, so training's golden
samples and the service's answers come from one definition.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class LinearRegression(nn.Module):
    """``y = w * x + b``: float features (N, F) -> predicted value (N, 1)."""

    def __init__(self, in_features: int = 1) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.linear(x)
        return y


class LogisticRegression(nn.Module):
    """``sigmoid(w * x + b)``: float features (N, F) -> probability of the positive class (N, 1)."""

    def __init__(self, in_features: int = 1) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(x))


class DiabetesMLP(nn.Module):
    """Linear layers with an activation between them and a sigmoid on one output.

    The course's net is 8 -> 6 -> 4 -> 1 with sigmoids throughout; ``activation="relu"``
    keeps the sigmoid on the output so both variants return a probability (N, 1).
    """

    def __init__(self, in_features: int = 8, hidden_sizes: Sequence[int] = (6, 4), activation: str = "sigmoid") -> None:
        super().__init__()
        activations: dict[str, type[nn.Module]] = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU}
        if activation not in activations:
            raise ValueError(f"activation {activation!r} is not one of {sorted(activations)}")
        layers: list[nn.Module] = []
        width = in_features
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), activations[activation]()]
            width = hidden
        layers += [nn.Linear(width, 1), nn.Sigmoid()]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p: torch.Tensor = self.layers(x)
        return p


class HelloRNNCell(nn.Module):
    """The course's ``RNNCell`` loop: one-hot characters in, the hidden state is each step's logits.

    Input: ``tokens`` (N, T) int64 indices into the vocabulary. Output: logits (N, T, V), the
    hidden size being the vocabulary size as in the course (no output layer).
    """

    def __init__(self, vocab_size: int = 4) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.cell = nn.RNNCell(vocab_size, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        inputs = F.one_hot(tokens, self.vocab_size).float()
        hidden = torch.zeros(tokens.shape[0], self.vocab_size, device=tokens.device)
        steps: list[torch.Tensor] = []
        for t in range(tokens.shape[1]):
            hidden = self.cell(inputs[:, t], hidden)
            steps.append(hidden)
        return torch.stack(steps, dim=1)


class HelloRNN(nn.Module):
    """The same model with ``nn.RNN`` running the loop: tokens (N, T) -> logits (N, T, V)."""

    def __init__(self, vocab_size: int = 4, num_layers: int = 1) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.rnn = nn.RNN(vocab_size, vocab_size, num_layers=num_layers, batch_first=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(F.one_hot(tokens, self.vocab_size).float())
        logits: torch.Tensor = outputs
        return logits


class HelloEmbedding(nn.Module):
    """Embedding -> multi-layer ``nn.RNN`` -> Linear head: tokens (N, T) -> logits (N, T, V)."""

    def __init__(self, vocab_size: int = 4, embedding_dim: int = 10, hidden_size: int = 8, num_layers: int = 2) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.rnn = nn.RNN(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(self.embedding(tokens))
        logits: torch.Tensor = self.fc(outputs)
        return logits


def binary_probabilities(p: torch.Tensor) -> torch.Tensor:
    """A sigmoid model's positive-class probability (N, 1) -> class probabilities (N, 2): [1 - p, p]."""
    return torch.cat([1 - p, p], dim=-1)


def per_position_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """A hello model's logits (N, T, V) -> per-position class probabilities (N, T, V)."""
    return logits.softmax(dim=-1)
