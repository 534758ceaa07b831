"""Character sequences of sequence-labelling models, shared by training and serving.

Index ``i`` is ``vocabulary[i]``; there is no unknown or padding index, so a character
outside the vocabulary is an error that names it rather than a silent substitution.
"""

from collections.abc import Sequence

import torch


class SequenceInputError(ValueError):
    """An input string that the model cannot read; ``position`` is 0-based, None for the whole string."""

    def __init__(self, message: str, *, position: int | None = None, character: str | None = None) -> None:
        super().__init__(message)
        self.position = position
        self.character = character


def check_sequence(text: str, vocabulary: str, max_length: int) -> None:
    """Raise ``SequenceInputError`` if ``text`` is empty, too long, or has a character outside ``vocabulary``."""
    if not text:
        raise SequenceInputError(f"the input is empty; send 1 to {max_length} characters from {vocabulary!r}")
    if len(text) > max_length:
        raise SequenceInputError(f"the input has {len(text)} characters; at most {max_length} are accepted")
    for position, character in enumerate(text):
        if character not in vocabulary:
            raise SequenceInputError(
                f"character {character!r} at position {position} is not in the vocabulary {vocabulary!r}",
                position=position,
                character=character,
            )


def encode_sequences(texts: Sequence[str], vocabulary: str, max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked strings -> ``tokens`` (N, T) int64 and ``lengths`` (N,) int64; T is the longest string.

    Shorter strings are right-padded with index 0. The course's character models are
    causal (position t depends only on positions <= t), so padding after a string does not
    change its own outputs; cut each row's outputs back to its length.
    """
    for text in texts:
        check_sequence(text, vocabulary, max_length)
    index = {ch: i for i, ch in enumerate(vocabulary)}
    width = max((len(text) for text in texts), default=0)
    rows = [[index[ch] for ch in text] + [0] * (width - len(text)) for text in texts]
    tokens = torch.tensor(rows, dtype=torch.int64).reshape(len(texts), width)
    return tokens, torch.tensor([len(text) for text in texts], dtype=torch.int64)


def decode_sequence(indices: Sequence[int] | torch.Tensor, labels: Sequence[str]) -> str:
    """Output class indices of one string -> the output string (labels are single characters)."""
    values = indices.tolist() if isinstance(indices, torch.Tensor) else list(indices)
    return "".join(labels[i] for i in values)
