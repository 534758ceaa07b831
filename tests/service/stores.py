"""Model stores built in a temporary folder: versions copied from the committed ones, and broken ones."""

import json
import re
import shutil
from pathlib import Path
from typing import Any

from PIL import Image
from safetensors.torch import load_file, save_file

from artifacts.store import sha256_file
from tests.paths import MODELS_STORE
from tests.service.conftest import b64, png_bytes

MODEL = "digits-cnn"  # small and quick to trace


def _slow_body() -> dict[str, object]:
    square = Image.new("L", (300, 300), 255)
    square.paste(0, (100, 100, 200, 200))
    return {"images": [{"image_base64": b64(png_bytes(square))}]}


# A file large enough to be decoded off the event loop: between looking its model version up and
# queueing on it, such a request waits, which is when a swap can come.
SLOW_BODY = _slow_body()


def add_version(store: Path, version: int, source: str = MODEL, name: str = MODEL, **manifest: Any) -> Path:
    """Copy the committed ``source``/1 to ``store/name/version`` with manifest fields changed, written the
    way a store should be written: in a folder beside it, then renamed into place in one step."""
    folder = store / name / str(version)
    staging = store / f".staging-{name}-{version}"
    shutil.copytree(MODELS_STORE / source / "1", staging, ignore=shutil.ignore_patterns("*.png"))
    path = staging / "manifest.json"
    values = json.loads(path.read_text())
    values.update(name=name, version=version, **manifest)
    path.write_text(json.dumps(values))
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(folder)
    return folder


def corrupt_weights(folder: Path) -> None:
    """Bytes changed after training: the sha256 check refuses it."""
    weights = folder / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"corrupt!")


def retrain_badly(folder: Path) -> None:
    """Other weights with a matching sha256 in the manifest: only the golden check can refuse it."""
    weights = folder / "weights.safetensors"
    tensors = load_file(str(weights))
    tensors = {key: value * 1.5 if value.is_floating_point() else value for key, value in tensors.items()}
    save_file(tensors, str(weights))
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["weights.safetensors"] = sha256_file(weights)
    manifest_path.write_text(json.dumps(manifest))


def relabel(folder: Path) -> None:
    """The same model answering with other labels: not a drop-in replacement."""
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["labels"] = list(reversed(manifest["labels"]))
    manifest_path.write_text(json.dumps(manifest))


def transitions(metrics: str, reason: str, model: str = MODEL) -> dict[tuple[str, str], float]:
    """``tinyserve_model_transitions_total`` for one model and reason, as {(from, to): count}."""
    pattern = rf'tinyserve_model_transitions_total{{from="(\w+)",model="{model}",reason="{reason}",to="(\w+)"}} (\S+)'
    return {(old, new): float(count) for old, new, count in re.findall(pattern, metrics)}


def added(before: dict[tuple[str, str], float], after: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """What happened between two scrapes (the counters live as long as the test process)."""
    return {key: count - before.get(key, 0.0) for key, count in after.items() if count != before.get(key, 0.0)}
