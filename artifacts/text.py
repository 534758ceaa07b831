"""Surname folding and character encoding, shared by training and serving.

Folding turns any Unicode surname into lower-case ASCII with a transliteration
library (anyascii), so "Müller", "MÜLLER" and "muller" are the same input and
"Иванов" reaches the model as "ivanov".
"""

import unicodedata
from collections.abc import Sequence

import torch
from anyascii import anyascii

FOLDING_RULE = "anyascii-lower-v2"
VOCABULARY = "abcdefghijklmnopqrstuvwxyz '-"
PAD_INDEX = 0
UNKNOWN_INDEX = 1
MAX_NAME_LENGTH = 64


def fold_name(raw: str) -> str:
    """Strip, lower-case and transliterate a surname to ASCII (rule ``anyascii-lower-v2``).

    anyascii spells Greek letter by letter, so the digraph "ου" would come out as
    "oy"; Greek surnames are written with "ou" in Latin (Papadopoulos, the spelling
    the training data uses), so that one digraph is mapped first.
    """
    # Control, format (zero-width, bidi overrides) and symbol characters (emoji) are never
    # part of a name, and anyascii would spell an emoji as letters (":grinning:").
    kept = "".join(ch for ch in raw if unicodedata.category(ch)[0] not in "CS")
    return anyascii(kept.strip().lower().replace("ου", "ou").replace("ού", "ou")).strip().lower()


def has_letter(folded: str) -> bool:
    return any("a" <= ch <= "z" for ch in folded)


def encode_names(folded: Sequence[str], vocabulary: str = VOCABULARY) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode folded names as padded ``tokens`` (N, T) and ``lengths`` (N,), both int64.

    Characters outside the vocabulary map to the unknown index rather than being
    dropped, so the model still sees the name's length and shape.
    """
    index = {ch: i + 2 for i, ch in enumerate(vocabulary)}
    lengths = [max(len(name), 1) for name in folded]
    tokens = torch.zeros(len(folded), max(lengths, default=1), dtype=torch.int64)
    for row, name in enumerate(folded):
        if name:
            tokens[row, : len(name)] = torch.tensor([index.get(ch, UNKNOWN_INDEX) for ch in name])
        else:
            tokens[row, 0] = UNKNOWN_INDEX
    return tokens, torch.tensor(lengths, dtype=torch.int64)
