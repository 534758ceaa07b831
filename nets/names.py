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


class StepwiseNamesGRU(nn.Module):
    """NamesGRU's forward for unpadded batches, as explicit steps for TorchScript on the CPU.

    A short name's forward is dominated by per-operation overhead, not arithmetic: PyTorch's GRU
    runs each direction of each layer one step at a time, about a dozen small operations a step.
    Here both directions of a layer advance together (one batched matmul for each gate group a
    step: the hidden state times all three gates' weights), the first layer's input gates come
    from a per-character table (they depend on the character alone), and the gate arithmetic
    takes fewer operations. The same arithmetic up to float rounding; the runner swaps it in
    only once it reproduces the golden outputs.

    Inference only (no dropout). Input: ``tokens`` (N, T) int64, no padding. Output: logits
    (N, num_classes).
    """

    w_ih: list[torch.Tensor]  # per layer, (2 directions, input, 3H): gates r, z, n
    b_i: list[torch.Tensor]  # (2, 1, 1, 3H): input biases, plus the hidden biases of r and z
    w_h: list[torch.Tensor]  # (2, H, 3H)
    b_h: list[torch.Tensor]  # (2, 1, 3H): zero but for n's hidden bias, which r scales

    def __init__(self, model: NamesGRU) -> None:
        super().__init__()
        gru, hidden = model.gru, model.gru.hidden_size
        self.hidden = hidden
        self.w_ih, self.b_i, self.w_h, self.b_h = [], [], [], []
        for layer in range(gru.num_layers):
            w_hh, b_hh = _both_directions(gru, "weight_hh", layer), _both_directions(gru, "bias_hh", layer)
            b_i, b_h = _both_directions(gru, "bias_ih", layer).clone(), b_hh.clone()
            b_i[:, : 2 * hidden] += b_hh[:, : 2 * hidden]
            b_h[:, : 2 * hidden] = 0
            # Every tensor its own copy: freezing refuses attributes that share storage.
            self.w_ih.append(_both_directions(gru, "weight_ih", layer).transpose(1, 2).contiguous())
            self.b_i.append(b_i[:, None, None, :].clone())
            self.w_h.append(w_hh.transpose(1, 2).contiguous())
            self.b_h.append(b_h[:, None, :])
        embedding = model.embedding.weight.detach()
        self.first_gates = torch.matmul(embedding, self.w_ih[0]) + self.b_i[0][:, 0]  # (2, vocabulary, 3H)
        self.fc = model.fc

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        steps = tokens.t()  # time-major: each step's gates are one block per direction
        gates = torch.stack([self.first_gates[0][steps], self.first_gates[1][steps.flip(0)]])  # (2, T, N, 3H)
        hidden = torch.zeros(0)  # TorchScript wants both defined before the loop that sets them
        outputs: list[torch.Tensor] = []
        for layer in range(len(self.w_ih)):
            if layer > 0:  # the input gates of this layer, from the last one's outputs
                sequence = torch.stack(outputs, 1)  # (2, T, N, H), the backward direction's in its own order
                x = torch.cat([sequence[0], sequence[1].flip(0)], -1)  # (T, N, 2H)
                both = torch.stack([x, x.flip(0)]).reshape(2, x.shape[0] * x.shape[1], x.shape[2])
                gates = torch.bmm(both, self.w_ih[layer]).reshape(2, x.shape[0], x.shape[1], -1) + self.b_i[layer]
            rz_in, n_in = gates[..., : 2 * self.hidden].unbind(1), gates[..., 2 * self.hidden :].unbind(1)
            hidden = torch.zeros(2, tokens.shape[0], self.hidden)
            outputs = []
            for t in range(len(rz_in)):
                hh = torch.baddbmm(self.b_h[layer], hidden, self.w_h[layer])  # (2, N, 3H)
                r, z = hh[..., : 2 * self.hidden].add_(rz_in[t]).sigmoid_().chunk(2, -1)
                n = torch.addcmul(n_in[t], r, hh[..., 2 * self.hidden :]).tanh_()
                hidden = torch.lerp(n, hidden, z)  # (1 - z) * n + z * hidden
                outputs.append(hidden)
        logits: torch.Tensor = self.fc(torch.cat([hidden[0], hidden[1]], 1))
        return logits


def _both_directions(gru: nn.GRU, name: str, layer: int) -> torch.Tensor:
    """A parameter of one layer for the forward and the backward direction, stacked: (2, ...)."""
    return torch.stack([getattr(gru, f"{name}_l{layer}").detach(), getattr(gru, f"{name}_l{layer}_reverse").detach()])
