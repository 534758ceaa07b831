"""examples/plugin, as a user would use it: installed into the environment, trained with the training
CLI into a fresh store, served by a real `tinyserve serve`, and called over HTTP."""

import json
import math
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from safetensors.torch import load_file

from artifacts.golden import GOLDEN_FILE
from tests.paths import PROJECT_ROOT
from tests.servers import running_server

pytestmark = [pytest.mark.slow, pytest.mark.data]

PLUGIN = PROJECT_ROOT / "examples" / "plugin"


@pytest.fixture(scope="module")
def installed_plugin() -> Iterator[None]:
    """pip install -e examples/plugin, and uninstalled again after: later tests see the environment as it was."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-e", str(PLUGIN)], check=True)
    yield
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "--quiet", "-y", "tinyserve-example-plugin"], check=True)


@pytest.fixture(scope="module")
def plugin_store(installed_plugin: None, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """The plugin's architecture trained for a built-in task, and the same weights published a second
    time under the plugin's own task kind."""
    store = tmp_path_factory.mktemp("store")
    train = [sys.executable, "-m", "training", "digits", "--arch", "tiny-digits-net", "--name", "tiny-digits"]
    train += ["--epochs", "1", "--limit", "4000", "--no-augment", "--threads", "1", "--store", str(store)]
    subprocess.run([*train, "--data-dir", str(data_dir)], check=True, cwd=PROJECT_ROOT)
    entropy = store / "tiny-entropy" / "1"
    shutil.copytree(store / "tiny-digits" / "1", entropy)
    manifest = json.loads((entropy / "manifest.json").read_text())
    manifest.update(name="tiny-entropy", task="digits-with-entropy")
    (entropy / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return store


def test_the_plugin_model_is_trained_served_and_answers(plugin_store: Path) -> None:
    # Read as files: this process may have listed the architectures before the plugin was installed.
    golden = load_file(plugin_store / "tiny-digits" / "1" / GOLDEN_FILE)
    expected = golden["probabilities"].argmax(dim=1).tolist()
    images = [{"pixels": grid.tolist()} for grid in golden["pixels"].numpy()]
    with running_server(TINYSERVE_MODEL_STORE=str(plugin_store)) as (base, _):
        models = {m["name"]: m for m in httpx.get(f"{base}/v1/models").json()["models"]}
        assert models["tiny-digits"]["architecture"] == "tiny-digits-net"
        assert models["tiny-digits"]["status"] == "ready" and models["tiny-entropy"]["status"] == "ready"
        assert models["tiny-digits"]["metrics"]["test_accuracy"] > 50  # one short epoch: it has learnt, not mastered

        built_in = httpx.post(f"{base}/v1/models/tiny-digits/predict", json={"images": images}, timeout=30)
        assert built_in.status_code == 200, built_in.text
        assert [p["digit"] for p in built_in.json()["predictions"]] == expected
        alias = httpx.post(f"{base}/v1/digits/predict", json={"images": images, "model": "tiny-digits"}, timeout=30)
        assert alias.json()["predictions"] == built_in.json()["predictions"]

        own_task = httpx.post(f"{base}/v1/models/tiny-entropy/predict", json={"images": images}, timeout=30)
        assert own_task.status_code == 200, own_task.text
        predictions = own_task.json()["predictions"]
        assert [p["digit"] for p in predictions] == expected
        assert all(0 <= p["entropy"] <= math.log2(10) + 1e-9 for p in predictions)
        # A plugin's task kind is not the digits alias's: that route refuses it and says why.
        refused = httpx.post(f"{base}/v1/digits/predict", json={"images": images, "model": "tiny-entropy"})
        assert refused.status_code == 422 and "digits-with-entropy" in refused.json()["error"]["message"]
