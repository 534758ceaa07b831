import httpx
import pytest

from service.tasks.image_classification import ONEDNN_PROBES
from service.tasks.text_classification import STEPWISE_PROBES
from tests.service.conftest import TEST_DEVICE

pytestmark = pytest.mark.asyncio

TOY_MODELS = {"linear-regression", "logistic-regression", "hello-rnncell", "hello-rnn", "hello-embedding"}


async def test_list_models(client: httpx.AsyncClient, committed_models: list[str]) -> None:
    response = await client.get("/v1/models")
    assert response.status_code == 200
    models = response.json()["models"]
    assert sorted(m["name"] for m in models) == committed_models
    for info in models:
        assert info["status"] == "ready"
        assert info["version"] in info["versions"]
        assert info["device"] == TEST_DEVICE
        assert info["parameters"] > 0
        accuracy = info["metrics"]["test_accuracy"]
        if info["name"] in TOY_MODELS:  # trained on a handful of points: no held-out test set
            assert accuracy is None and info["metrics"]["extra"]
        else:
            assert 0 < accuracy <= 100
        # Every model swaps in its traced graph once it passes the golden check (the GRU's for unpadded
        # batches), except sequence models: a trace would fix their RNN loop to one length.
        assert info["graph"] == ("eager" if info["task"] == "sequence-labelling" else "traced")
        assert info["onednn_from_batch"] in {None, *ONEDNN_PROBES}
        if info["task"] == "text-classification" or info["device"] != "cpu":
            assert info["onednn_from_batch"] is None
        assert info["stepwise_until_batch"] in {None, *STEPWISE_PROBES}
        if info["task"] == "image-classification" or info["device"] != "cpu":
            assert info["stepwise_until_batch"] is None


@pytest.mark.parametrize(
    ("name", "task", "n_labels"),
    [("digits-resnet", "image-classification", 10), ("names-gru", "text-classification", 18)],
)
async def test_get_model(client: httpx.AsyncClient, name: str, task: str, n_labels: int) -> None:
    response = await client.get(f"/v1/models/{name}")
    assert response.status_code == 200
    info = response.json()
    assert info["name"] == name
    assert info["task"] == task
    assert info["architecture"] == name
    assert len(info["labels"]) == n_labels
    assert info["metrics"]["test_size"] in {10000, 6700}


async def test_unknown_model_is_404_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/models/nope")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "model_not_found"
    assert "'nope'" in error["message"] and "names-gru" in error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
