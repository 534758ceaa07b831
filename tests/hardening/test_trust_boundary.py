"""What SECURITY.md says about checkpoints and containers, checked.

The model store is trusted, but loading is still defensive: weights are safetensors (no code runs
when they are read) and their sha256 must match the manifest. Even a store whose manifest an
attacker rewrote to match a pickle never runs that pickle.
"""

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import yaml
from safetensors.torch import load_file, save_file

from tests.hardening import tally
from tests.paths import MODELS_STORE, PROJECT_ROOT
from tests.service.conftest import make_settings, running_app


class _Payload:
    """Unpickling this creates ``marker``: the proof a loader ran code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


async def test_a_pickle_in_place_of_the_weights_is_never_unpickled(tmp_path: Path) -> None:
    store = tmp_path / "models_store"
    shutil.copytree(MODELS_STORE, store, ignore=shutil.ignore_patterns("*.png"))
    marker = tmp_path / "pwned"
    evil = pickle.dumps(_Payload(marker))
    pickle.loads(evil)  # the payload works when unpickled...
    assert marker.exists()
    marker.unlink()

    version = store / "digits-cnn" / "1"
    (version / "weights.safetensors").write_bytes(evil)
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["files"]["weights.safetensors"] = hashlib.sha256(evil).hexdigest()  # even with a matching sha256
    (version / "manifest.json").write_text(json.dumps(manifest))

    async with running_app(make_settings(model_store=store, models=["digits-cnn", "names-gru"])) as (_, client):
        info = (await client.get("/v1/models/digits-cnn")).json()
        names = await client.post("/v1/names/predict", json={"names": ["Rossi"]})
    tally.record("faults: a pickle as the weights", names.status_code)
    assert not marker.exists()  # ...and loading the artifact never unpickled it
    assert info["status"] == "failed" and "not a valid safetensors file" in info["error"]
    assert names.status_code == 200 and names.json()["predictions"][0]["country"] == "Italian"


async def test_weights_that_compute_something_else_are_refused(tmp_path: Path) -> None:
    """Valid safetensors with a matching sha256, but the wrong numbers: the golden check after loading fails."""
    store = tmp_path / "models_store"
    shutil.copytree(MODELS_STORE, store, ignore=shutil.ignore_patterns("*.png"))
    version = store / "digits-cnn" / "1"
    weights = load_file(str(version / "weights.safetensors"))
    name = max(weights, key=lambda key: weights[key].numel())  # a weight matrix: a bias shift could cancel out
    weights[name] = weights[name] * 1.5
    save_file(weights, str(version / "weights.safetensors"))
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["files"]["weights.safetensors"] = hashlib.sha256(
        (version / "weights.safetensors").read_bytes()
    ).hexdigest()
    (version / "manifest.json").write_text(json.dumps(manifest))

    async with running_app(make_settings(model_store=store, models=["digits-cnn", "names-gru"])) as (_, client):
        info = (await client.get("/v1/models/digits-cnn")).json()
        names = await client.post("/v1/names/predict", json={"names": ["Rossi"]})
    tally.record("faults: weights that compute something else", names.status_code)
    assert info["status"] == "failed" and "golden check failed" in info["error"]
    assert names.status_code == 200 and names.json()["predictions"][0]["country"] == "Italian"


def test_compose_runs_the_api_locked_down() -> None:
    api = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())["services"]["api"]
    assert api["read_only"] is True
    assert api["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in api["security_opt"]
    assert "user" not in api  # the image's non-root USER applies


def test_no_service_code_unpickles() -> None:
    """No torch.load or pickle anywhere the server imports: checkpoints are read with safetensors only."""
    for folder in ("service", "artifacts", "nets"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            source = path.read_text()
            for forbidden in ("torch.load(", "pickle.load", "import pickle", "torch.jit.load("):
                assert forbidden not in source, f"{path}: {forbidden}"
