"""Surname folding and character encoding, shared by training and serving.

Folding turns any Unicode surname into lower-case ASCII with a transliteration
library (anyascii), so "Müller", "MÜLLER" and "muller" are the same input and
"Иванов" reaches the model as "ivanov".
"""

import unicodedata
from collections.abc import Sequence
from functools import lru_cache

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
    dropped, so the model still sees the name's length and shape; an empty name is one
    unknown token. A dict lookup per character into lists, then one tensor: faster than
    vectorising over code points with NumPy for the batch sizes served, and NumPy work right
    before a one-name forward pass slows that pass down (see the performance notes).
    """
    index = _vocabulary_index(vocabulary)
    rows = [[index.get(ch, UNKNOWN_INDEX) for ch in name] or [UNKNOWN_INDEX] for name in folded]
    lengths = [len(row) for row in rows]
    width = max(lengths, default=1)
    padded = [row + [PAD_INDEX] * (width - len(row)) for row in rows]
    tokens = torch.tensor(padded, dtype=torch.int64).reshape(len(rows), width)  # (0, 1) for no names
    return tokens, torch.tensor(lengths, dtype=torch.int64)


@lru_cache(maxsize=8)
def _vocabulary_index(vocabulary: str) -> dict[str, int]:
    """Token of each character: its index + 2; a character listed twice keeps its later index."""
    return {ch: i + 2 for i, ch in enumerate(vocabulary)}
