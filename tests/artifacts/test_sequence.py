"""Sequence encoding shared by training and serving: index i is vocabulary[i], no unknown index."""

import pytest
import torch

from artifacts.sequence import SequenceInputError, check_sequence, decode_sequence, encode_sequences


def test_encode_one_string() -> None:
    tokens, lengths = encode_sequences(["hello"], "ehlo", 64)
    assert tokens.tolist() == [[1, 0, 2, 2, 3]]
    assert lengths.tolist() == [5]
    assert tokens.dtype == lengths.dtype == torch.int64


def test_shorter_strings_are_right_padded_with_index_0() -> None:
    tokens, lengths = encode_sequences(["hello", "ol", "h"], "ehlo", 64)
    assert tokens.tolist() == [[1, 0, 2, 2, 3], [3, 2, 0, 0, 0], [1, 0, 0, 0, 0]]
    assert lengths.tolist() == [5, 2, 1]


def test_no_strings_give_an_empty_batch() -> None:
    tokens, lengths = encode_sequences([], "ehlo", 64)
    assert tokens.shape == (0, 0) and lengths.shape == (0,)


@pytest.mark.parametrize(
    ("text", "position", "character"),
    [("hellx", 4, "x"), ("Hello", 0, "H"), ("he llo", 2, " "), ("hé", 1, "é"), ("he\x00", 2, "\x00")],
)
def test_the_first_character_outside_the_vocabulary_is_named(text: str, position: int, character: str) -> None:
    with pytest.raises(SequenceInputError) as excinfo:
        encode_sequences(["hello", text], "ehlo", 64)
    assert (excinfo.value.position, excinfo.value.character) == (position, character)
    assert str(excinfo.value) == (f"character {character!r} at position {position} is not in the vocabulary 'ehlo'")


def test_empty_and_over_long_strings_are_refused() -> None:
    with pytest.raises(SequenceInputError, match="the input is empty; send 1 to 5 characters from 'ehlo'"):
        check_sequence("", "ehlo", 5)
    with pytest.raises(SequenceInputError, match="the input has 6 characters; at most 5 are accepted") as excinfo:
        check_sequence("helloo", "ehlo", 5)
    assert excinfo.value.position is None
    check_sequence("hello", "ehlo", 5)  # exactly the limit is accepted


def test_sequence_errors_are_value_errors() -> None:
    assert issubclass(SequenceInputError, ValueError)


def test_decode_sequence() -> None:
    assert decode_sequence(torch.tensor([3, 1, 2, 3, 2]), list("ehlo")) == "ohlol"
    assert decode_sequence([0, 0], list("ehlo")) == "ee"
