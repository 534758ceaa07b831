"""`tinyserve serve` as a real process on a loopback port, talked to over TCP with httpx."""

from collections.abc import Iterator

import httpx
import pytest

from tests.servers import running_server


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server() as (base, _):
        yield base


def test_real_server_answers_over_tcp(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        assert client.get("/health/live").json() == {"status": "alive"}
        names = client.post("/v1/names/predict", json={"names": ["Nakamura"]})
        assert names.status_code == 200
        assert names.json()["predictions"][0]["country"] == "Japanese"
        assert "x-request-id" in names.headers
        missing = client.get("/v1/models/none")
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "model_not_found"
