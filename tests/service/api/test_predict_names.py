import httpx
import pytest

pytestmark = pytest.mark.asyncio


async def predict(client: httpx.AsyncClient, names: list[str], **extra: object) -> httpx.Response:
    return await client.post("/v1/names/predict", json={"names": names, **extra})


@pytest.mark.parametrize(
    ("name", "country"),
    [
        ("Nakamura", "Japanese"),
        ("Dvořák", "Czech"),
        ("Иванов", "Russian"),
        ("Trần", "Vietnamese"),
        ("Παπαδόπουλος", "Greek"),
        ("Schröder", "German"),
    ],
)
async def test_clear_cases(client: httpx.AsyncClient, name: str, country: str) -> None:
    response = await predict(client, [name], top_k=5)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "names-gru" and body["version"] >= 1
    (prediction,) = body["predictions"]
    assert prediction["name"] == name
    assert prediction["country"] == country
    assert len(prediction["top_k"]) == 5
    assert prediction["top_k"][0]["country"] == country


async def test_normalized_form_and_order(client: httpx.AsyncClient) -> None:
    names = ["Müller", "  O'Neill ", "Παπαδόπουλος"]
    response = await predict(client, names)
    predictions = response.json()["predictions"]
    assert [p["name"] for p in predictions] == names
    assert [p["normalized"] for p in predictions] == ["muller", "o'neill", "papadopoulos"]


async def test_letter_case_does_not_change_the_answer(client: httpx.AsyncClient) -> None:
    response = await predict(client, ["NAKAMURA", "nakamura", "Nakamura"])
    predictions = response.json()["predictions"]
    assert len({(p["country"], round(p["probability"], 6)) for p in predictions}) == 1


@pytest.mark.parametrize(
    ("names", "extra", "fragment"),
    [
        ([""], {}, "names[0] is empty"),
        (["Smith", "   "], {}, "names[1] is empty or only whitespace"),
        (["x" * 65], {}, "names[0] has 65 characters; at most 64"),
        (["12345"], {}, "names[0] ('12345') has no Latin letter"),
        (["😀😀"], {}, "has no Latin letter"),
        ([], {}, "names: List should have at least 1 item"),
        (["Smith"] * 257, {}, "257 names sent; at most 256"),
        (["Smith"], {"top_k": 0}, "top_k"),
        (["Smith"], {"top_k": 19}, "top_k"),
        (["Smith"], {"model": "digits-cnn"}, "needs a text-classification model"),
        ([123], {}, "names[0]: Input should be a valid string"),
    ],
)
async def test_invalid_names_are_422(
    client: httpx.AsyncClient, names: list[object], extra: dict[str, object], fragment: str
) -> None:
    response = await client.post("/v1/names/predict", json={"names": names, **extra})
    assert response.status_code == 422, response.text
    assert fragment in response.json()["error"]["message"]


async def test_unknown_characters_still_get_an_answer(client: httpx.AsyncClient) -> None:
    response = await predict(client, ["Smith\u200b", "O\u202eBrien", "Ng\u0000uyen"])
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 3
