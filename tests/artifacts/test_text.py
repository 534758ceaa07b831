"""Surname folding and encoding shared by training and serving."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from artifacts.text import PAD_INDEX, UNKNOWN_INDEX, VOCABULARY, encode_names, fold_name, has_letter


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Müller", "muller"),
        ("MÜLLER", "muller"),
        ("Nguyễn", "nguyen"),
        ("Иванов", "ivanov"),
        ("Dvořák", "dvorak"),
        ("O'Neill", "o'neill"),
        ("  Nakamura  ", "nakamura"),
        ("NAKAMURA", "nakamura"),
        ("nakamura", "nakamura"),
        # anyascii alone spells the digraph "ου" as "oy"; fold_name maps it to the "ou"
        # that Greek surnames use in Latin (and the training data uses).
        ("Παπαδόπουλος", "papadopoulos"),
        ("ΓΕΩΡΓΊΟΥ", "georgiou"),
        # Emoji, control, zero-width and bidi characters are not part of any name.
        ("😀😀", ""),
        ("Smith\u200b", "smith"),
        ("O\u202eBrien", "obrien"),
        ("Ng\u0000uyen", "nguyen"),
        ("Trần", "tran"),
        ("山田", "shantian"),
        ("", ""),
    ],
)
def test_fold_name(raw: str, folded: str) -> None:
    assert fold_name(raw) == folded


def test_folding_is_idempotent() -> None:
    for raw in ["Müller", "Иванов", "Παπαδόπουλος", "  Dvořák "]:
        assert fold_name(fold_name(raw)) == fold_name(raw)


@pytest.mark.parametrize(("folded", "expected"), [("ivanov", True), ("o'neill", True), ("'- ", False), ("", False)])
def test_has_letter(folded: str, expected: bool) -> None:
    assert has_letter(folded) is expected


def test_encode_names_pads_to_the_longest_name() -> None:
    tokens, lengths = encode_names(["ab", "abcd", "a"])
    assert tokens.dtype == lengths.dtype == torch.int64
    assert lengths.tolist() == [2, 4, 1]
    a, b, c, d = (VOCABULARY.index(ch) + 2 for ch in "abcd")
    assert tokens.tolist() == [[a, b, PAD_INDEX, PAD_INDEX], [a, b, c, d], [a, PAD_INDEX, PAD_INDEX, PAD_INDEX]]


def test_vocabulary_indices_start_after_pad_and_unknown() -> None:
    tokens, _ = encode_names([VOCABULARY])
    assert tokens.tolist() == [list(range(2, len(VOCABULARY) + 2))]


@pytest.mark.parametrize("name", ["lysansky,", "x9", "a.b"])
def test_characters_outside_the_vocabulary_map_to_unknown(name: str) -> None:
    tokens, lengths = encode_names([name])
    assert lengths.tolist() == [len(name)]
    for ch, token in zip(name, tokens[0].tolist(), strict=True):
        assert (token == UNKNOWN_INDEX) is (ch not in VOCABULARY)


def test_empty_name_becomes_one_unknown_token() -> None:
    tokens, lengths = encode_names(["", "ab"])
    assert lengths.tolist() == [1, 2]
    assert tokens[0].tolist() == [UNKNOWN_INDEX, PAD_INDEX]


def test_empty_batch() -> None:
    tokens, lengths = encode_names([])
    assert tokens.shape == (0, 1)
    assert lengths.shape == (0,)


@settings(max_examples=300, derandomize=True)
@given(
    folded=st.lists(st.text(alphabet=st.sampled_from("abcxyz '-éЖ\x00\u2603"), max_size=12), max_size=6),
    vocabulary=st.text(alphabet=st.sampled_from("abcxyz '-éЖ"), max_size=12),  # repeats and non-ASCII too
)
def test_tokens_spell_each_name_and_pad_the_rest(folded: list[str], vocabulary: str) -> None:
    """Row by row: a character's last index in the vocabulary + 2, else unknown; an empty name one
    unknown token; padding up to the longest."""
    tokens, lengths = encode_names(folded, vocabulary)
    width = max([max(len(name), 1) for name in folded], default=1)
    assert tokens.shape == (len(folded), width) and tokens.dtype == lengths.dtype == torch.int64
    for row, length, name in zip(tokens.tolist(), lengths.tolist(), folded, strict=True):
        spelled = [vocabulary.rindex(ch) + 2 if ch in vocabulary else UNKNOWN_INDEX for ch in name]
        assert length == max(len(name), 1)
        assert row == (spelled or [UNKNOWN_INDEX]) + [PAD_INDEX] * (width - length)
