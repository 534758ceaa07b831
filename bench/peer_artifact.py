"""peerbench's model as a tinyserve artifact, so tinyserve can serve exactly what the peers serve.

peerbench's ``MnistCNN`` (mnist_model.py) and ``nets.DigitsCNN`` have the same layers in the same
order with the same state_dict keys (conv1, conv2, fc; DigitsCNN's dropout has no weights), and
the same normalisation (x/255 - 0.1307) / 0.3081. The weights are peerbench's untrained
``torch.manual_seed(0)`` ones; its labels are deterministic, not true digits. The golden samples
are peerbench's own samples with probabilities from an eager forward pass here, so tinyserve's
load-time golden check passes only if it computes what this module computes.
"""

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from artifacts import GoldenSamples, ImagePreprocessing, Metrics, ModelManifest, TrainingRecord, save_artifact
from nets import build_model

NAME = "digits-cnn"  # the name peerbench's tinyserve_v1 body asks for


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export(assets: Path, store: Path, name: str = NAME) -> Path:
    """Write ``<store>/<name>/1`` from ``assets/mnist_cnn.pt`` and ``assets/samples.json``; returns the folder."""
    weights = assets / "mnist_cnn.pt"
    samples = json.loads((assets / "samples.json").read_text())
    model = build_model("digits-cnn", dropout=0.0)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
    model.eval()
    pixels = torch.tensor(np.array([s["pixels"] for s in samples], dtype=np.uint8)).view(-1, 28, 28)
    prep = ImagePreprocessing()
    with torch.inference_mode():
        probabilities = model((pixels.float().unsqueeze(1) / 255.0 - prep.mean) / prep.std).softmax(dim=1)
    truth = [s.get("true_label") for s in samples]
    correct = sum(int(p) == t for p, t in zip(probabilities.argmax(dim=1).tolist(), truth, strict=True))
    accuracy = 100.0 * correct / len(samples) if None not in truth else 0.0
    manifest = ModelManifest(
        name=name,
        version=1,
        task="image-classification",
        architecture="digits-cnn",
        architecture_args={"dropout": 0.0},
        labels=[str(d) for d in range(10)],
        preprocessing=prep,
        metrics=Metrics(val_accuracy=accuracy, test_accuracy=accuracy, test_size=len(samples), per_class_accuracy={}),
        training=TrainingRecord(
            command="none: peerbench's untrained torch.manual_seed(0) weights (make_assets.py), exported by "
            "bench/peer_artifact.py; accuracy is on peerbench's samples only",
            config={"source": str(weights)},
            device="cpu",
            seconds=0.0,
            epochs_run=0,
            best_epoch=0,
        ),
        data_checksums={"mnist_cnn.pt": _sha256(weights), "samples.json": _sha256(assets / "samples.json")},
        library_versions={"torch": torch.__version__},
        created_at=dt.datetime.now(dt.UTC),
        parameters=sum(p.numel() for p in model.parameters()),
        files={},
    )
    folder = store / name / "1"
    save_artifact(folder, manifest, model, GoldenSamples(probabilities=probabilities, pixels=pixels))
    return folder
