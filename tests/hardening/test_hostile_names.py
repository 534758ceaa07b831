"""Hostile and odd surnames: empty, huge, invisible, bidirectional, control characters, every script."""

import httpx
import pytest

from tests.hardening import tally
from tests.hardening.conftest import StillServes, assert_error

NAMES = "/v1/names/predict"
NO_LETTER = "has no Latin letter after transliteration to ASCII"

# (case, names, message fragment); every one is a 422 validation_error
REJECTED: list[tuple[str, list[object], str]] = [
    ("empty", [""], "names[0] is empty or only whitespace"),
    ("spaces", ["   "], "names[0] is empty or only whitespace"),
    ("tabs and newlines", ["\t\n\r "], "names[0] is empty or only whitespace"),
    ("Unicode spaces", ["\u3000\u00a0\u2003"], "names[0] is empty or only whitespace"),
    ("second of two empty", ["Rossi", " "], "names[1] is empty or only whitespace"),
    ("65 characters", ["x" * 65], "names[0] has 65 characters; at most 64 are accepted"),
    ("65 CJK characters", ["王" * 65], "names[0] has 65 characters; at most 64 are accepted"),
    ("1025 characters", ["x" * 1025], "names[0]: String should have at most 1024 characters"),
    ("emoji only", ["😀🎉"], NO_LETTER),
    ("flag emoji", ["🇮🇹"], NO_LETTER),
    ("zero-width space only", ["\u200b"], NO_LETTER),
    ("zero-width joiners and BOM", ["\u200c\u200d\ufeff"], NO_LETTER),
    ("right-to-left override only", ["\u202e\u202c"], NO_LETTER),
    ("bidi isolates only", ["\u2066\u2067\u2068\u2069"], NO_LETTER),
    ("NUL and control characters", ["\x00\x07\x1b\x7f"], NO_LETTER),
    ("C1 control characters", ["\x85\x9b"], NO_LETTER),
    ("digits", ["12345"], NO_LETTER),
    ("punctuation", ["!?.,;"], NO_LETTER),
    ("combining accents alone", ["\u0301\u0301\u0308"], NO_LETTER),
    ("Arabic tatweel", ["\u0640\u0640"], NO_LETTER),
    ("replacement character", ["\ufffd"], NO_LETTER),
    ("private use", ["\ue000\U000f0000"], NO_LETTER),
    ("tag characters", ["\U000e0041\U000e0042"], NO_LETTER),
    ("a number", [123], "names[0]: Input should be a valid string"),
    ("null", [None], "names[0]: Input should be a valid string"),
    ("a list", [["Rossi"]], "names[0]: Input should be a valid string"),
    ("no names", [], "names: List should have at least 1 item"),
    ("257 names", ["Rossi"] * 257, "257 names sent; at most 256 per request"),
]


@pytest.mark.parametrize(("names", "fragment"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED])
async def test_rejected_names(
    hardened: httpx.AsyncClient, still_serves: StillServes, names: list[object], fragment: str
) -> None:
    response = await hardened.post(NAMES, json={"names": names})
    assert_error(response, 422, "validation_error", fragment, "names: rejected")
    await still_serves()


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"top_k": 0}, "top_k: Input should be greater than or equal to 1"),
        ({"top_k": 19}, "top_k: Input should be less than or equal to 18"),
        ({"model": "digits-cnn"}, "this endpoint needs a text-classification model"),
    ],
    ids=["top_k 0", "top_k 19", "an image model"],
)
async def test_rejected_options(
    hardened: httpx.AsyncClient, still_serves: StillServes, extra: dict[str, object], fragment: str
) -> None:
    response = await hardened.post(NAMES, json={"names": ["Rossi"], **extra})
    assert_error(response, 422, "validation_error", fragment, "names: rejected")
    await still_serves()


# (case, name, its folded form): odd but readable names get an answer
ANSWERED: list[tuple[str, str, str]] = [
    ("64 characters", "x" * 64, "x" * 64),
    ("64 CJK characters fold past 64", "王" * 64, "wang" * 16),
    ("Cyrillic", "Иванов", "ivanov"),
    ("Greek", "Παπαδόπουλος", "papadopoulos"),
    ("CJK", "王", "wang"),
    ("Arabic script", "حداد", "hdd"),
    ("Hebrew", "כהן", "khhn"),
    ("Devanagari", "शर्मा", "srma"),
    ("mixed scripts", "Ivanов王", "ivanovwang"),
    ("zero-width space inside", "Sm\u200bith", "smith"),
    ("right-to-left override inside", "\u202eRossi\u202c", "rossi"),
    ("emoji inside", "Rossi😀", "rossi"),
    ("NUL and escape inside", "Ros\x00si\x1b", "rossi"),
    ("ligature", "ﬀoulkes", "ffoulkes"),
    ("fullwidth Latin", "Ｓｍｉｔｈ", "smith"),
    ("decomposed accents", "Mu\u0308ller", "muller"),
    ("surrounding whitespace", "\u3000 Rossi \t", "rossi"),
]


@pytest.mark.parametrize(("name", "folded"), [c[1:] for c in ANSWERED], ids=[c[0] for c in ANSWERED])
async def test_odd_but_readable_names_get_an_answer(
    hardened: httpx.AsyncClient, still_serves: StillServes, name: str, folded: str
) -> None:
    response = await hardened.post(NAMES, json={"names": [name], "top_k": 18})
    tally.record("names: odd but readable", response.status_code)
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    assert prediction["name"] == name
    assert prediction["normalized"] == folded[:64]
    assert len(prediction["top_k"]) == 18
    assert abs(sum(entry["probability"] for entry in prediction["top_k"]) - 1.0) < 1e-4
    await still_serves()


async def test_a_full_request_of_every_script_is_answered_in_order(hardened: httpx.AsyncClient) -> None:
    names = [case[1] for case in ANSWERED] * 16  # 272: trimmed to the 256 limit
    names = names[:256]
    response = await hardened.post(NAMES, json={"names": names})
    tally.record("names: odd but readable", response.status_code)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["name"] for p in predictions] == names
    assert all(p["normalized"].isascii() and len(p["normalized"]) <= 64 for p in predictions)
