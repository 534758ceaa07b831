"""Smoke runs of ``python -m training`` on 1,000 rows write complete, loadable artifacts."""

import shlex
from pathlib import Path

import pytest
import torch

from artifacts import ImagePreprocessing
from artifacts.golden import GOLDEN_FILE
from artifacts.store import MANIFEST_FILE, WEIGHTS_FILE, load_artifact, sha256_file
from artifacts.text import encode_names, fold_name
from tests.training.smoke import SMOKE_LIMIT, SmokeRun
from training.digits import normalise
from training.evaluate import evaluate_artifact
from training.plots import CONFUSION_MATRIX_FILE, LEARNING_CURVE_FILE

pytestmark = pytest.mark.data

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_smoke_run_is_fast(smoke_run: SmokeRun) -> None:
    assert smoke_run.seconds < 30, f"{smoke_run.task} smoke run took {smoke_run.seconds:.1f} s"


def test_artifact_files_exist(smoke_run: SmokeRun) -> None:
    for name in (MANIFEST_FILE, WEIGHTS_FILE, GOLDEN_FILE):
        assert (smoke_run.directory / name).is_file()
    for name in (LEARNING_CURVE_FILE, CONFUSION_MATRIX_FILE):
        assert (smoke_run.directory / name).read_bytes().startswith(PNG_SIGNATURE)


def test_manifest_describes_the_run(smoke_run: SmokeRun, data_dir: Path) -> None:
    artifact = load_artifact(smoke_run.directory)
    manifest = artifact.manifest
    digits = smoke_run.task == "digits"
    assert (manifest.name, manifest.version) == (("digits-cnn" if digits else "names-gru"), 1)
    assert manifest.task == ("image-classification" if digits else "text-classification")
    assert len(manifest.labels) == (10 if digits else 18)
    assert manifest.parameters == sum(p.numel() for p in artifact.model.parameters())
    assert manifest.metrics.test_size == SMOKE_LIMIT
    assert manifest.metrics.test_accuracy is not None and 0 < manifest.metrics.test_accuracy <= 100
    assert manifest.metrics.val_accuracy is not None and 0 < manifest.metrics.val_accuracy <= 100
    assert set(manifest.metrics.per_class_accuracy) <= set(manifest.labels)
    assert manifest.training.command == shlex.join(["python", "-m", "training", *smoke_run.argv])
    assert manifest.training.config["limit"] == SMOKE_LIMIT
    assert manifest.training.device == "cpu"
    assert (manifest.training.epochs_run, manifest.training.best_epoch) == (1, 1)
    assert {"python", "torch", "safetensors"} <= manifest.library_versions.keys()
    data_files = (
        sorted((data_dir / "MNIST" / "raw").glob("*-ubyte"))
        if digits
        else [data_dir / "names" / "names_train.csv", data_dir / "names" / "names_test.csv"]
    )
    assert manifest.data_checksums == {p.name: sha256_file(p) for p in data_files}


@torch.inference_mode()
def test_golden_samples_are_reproduced(smoke_run: SmokeRun) -> None:
    artifact = load_artifact(smoke_run.directory)
    golden, prep = artifact.golden, artifact.manifest.preprocessing
    if isinstance(prep, ImagePreprocessing):
        assert golden.pixels is not None
        probabilities = artifact.model(normalise(golden.pixels, prep)).softmax(dim=1)
    else:
        assert golden.names
        probabilities = artifact.model(*encode_names([fold_name(n) for n in golden.names])).softmax(dim=1)
    assert golden.max_abs_error(probabilities) < 1e-5


def test_evaluation_agrees_with_the_manifest(smoke_run: SmokeRun, data_dir: Path) -> None:
    result = evaluate_artifact(smoke_run.directory, data_dir)
    manifest = load_artifact(smoke_run.directory).manifest
    assert result.measured_size == SMOKE_LIMIT
    assert result.measured_accuracy is not None and manifest.metrics.test_accuracy is not None
    assert abs(result.measured_accuracy - manifest.metrics.test_accuracy) <= 0.1
    assert result.agrees, result.summary()
