"""``tinyserve serve`` as a real process: its flags and a ``.env`` file in the working directory
reach the server, and a CUDA device on a machine without one is a clear error, not a traceback."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import torch

from tests.paths import MODELS_STORE, PROJECT_ROOT
from tests.servers import started_server, wait_listening

SERVE = (sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", "0")
NO_CUDA = "TINYSERVE_DEVICE={} but torch sees no CUDA device; use auto or cpu"


def clean_environment(**values: str) -> dict[str, str]:
    """This process's environment without TINYSERVE_* variables (so only the test's settings apply)."""
    kept = {key: value for key, value in os.environ.items() if not key.startswith("TINYSERVE_")}
    return {**kept, "PYTHONPATH": str(PROJECT_ROOT), "TINYSERVE_ACCESS_LOG": "false", **values}


def store_with_names_gru_version(tmp_path: Path, version: int) -> Path:
    store = tmp_path / "store"
    folder = store / "names-gru" / str(version)
    shutil.copytree(MODELS_STORE / "names-gru" / "1", folder, ignore=shutil.ignore_patterns("*.png"))
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "version": version}))
    return store


@pytest.mark.slow
def test_model_store_flag_and_dot_env_reach_the_server(tmp_path: Path) -> None:
    store = store_with_names_gru_version(tmp_path, 7)  # only this store has a version 7
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    (workdir / ".env").write_text("TINYSERVE_MAX_NAMES=2\nTINYSERVE_MODELS=names-gru\n")
    environment = clean_environment(TINYSERVE_MODEL_STORE=str(tmp_path / "not-this-one"))  # the flag wins
    command = [*SERVE, "--model-store", str(store), "--device", "cpu"]
    with started_server(command, environment, cwd=workdir) as server:
        two = httpx.post(f"{server.base}/v1/names/predict", json={"names": ["Nakamura", "Rossi"]})
        three = httpx.post(f"{server.base}/v1/names/predict", json={"names": ["Nakamura", "Rossi", "Li"]})
        models = httpx.get(f"{server.base}/v1/models")
    assert two.status_code == 200, two.text
    assert two.json()["version"] == 7 and two.json()["predictions"][0]["country"] == "Japanese"
    assert three.status_code == 422 and "3 names sent; at most 2 per request" in three.json()["error"]["message"]
    assert [model["name"] for model in models.json()["models"]] == ["names-gru"]
    assert '"loaded names-gru v7 ' in server.log()  # the store the flag named


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("how", ["flag", "environment"])
def test_cuda_without_cuda_is_a_clear_error(how: str, tmp_path: Path) -> None:
    device = {"TINYSERVE_DEVICE": "cuda"} if how == "environment" else {}
    command = [*SERVE, "--device", "cuda"] if how == "flag" else list(SERVE)
    environment = clean_environment(TINYSERVE_MODEL_STORE=str(MODELS_STORE), TINYSERVE_MODELS="names-gru", **device)
    log_path = tmp_path / "stderr.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=environment, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=log)
    try:
        with pytest.raises(AssertionError, match="server exited with"):  # never listens: exits at start-up
            wait_listening(log_path, process, timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
    assert process.returncode != 0
    assert NO_CUDA.format("cuda") in log_path.read_text()
