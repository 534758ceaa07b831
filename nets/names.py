"""Bidirectional GRU that reads a surname character by character."""

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class NamesGRU(nn.Module):
    """Embedding -> bidirectional multi-layer GRU (packed) -> Linear on both last hidden states.

    Input: ``tokens`` (N, T) int64 padded with 0, ``lengths`` (N,) int64, each >= 1; lengths None
    means no row is padded. Output: logits (N, num_classes).
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 64,
        hidden_size: int = 128,
        num_layers: int = 2,
        dropout: float = 0.0,
        embedding_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        # Dropping whole character embeddings regularises a character model far better
        # than dropout on the hidden states alone (it overfits 13k names within a few epochs).
        self.embedding_dropout = nn.Dropout1d(embedding_dropout)
        self.gru = nn.GRU(
            embedding_dim,
            hidden_size,
            num_layers=num_layers,
            bidirectional=True,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * hidden_size, num_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        embedded = self.embedding_dropout(self.embedding(tokens))
        if lengths is None or bool((lengths.cpu() == tokens.shape[1]).all()):
            # No padding (always so for one name): the same result, and packing would cost a
            # quarter of a single name's forward pass.
            _, hidden = self.gru(embedded)
        else:
            _, hidden = self.gru(pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False))
        # hidden: (num_layers * 2, N, H); the last layer's forward and backward states.
        last = torch.cat([hidden[-2], hidden[-1]], dim=1)
        logits: torch.Tensor = self.fc(self.dropout(last))
        return logits
