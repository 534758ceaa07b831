"""The course's models trained by ``python -m training`` with their committed recipes.

Each run meets the issue's targets, writes a complete artifact whose golden samples the
shared transforms reproduce, and ``training.evaluate`` re-measures every figure it records.
"""

import shlex
from pathlib import Path

import pytest
import torch

from artifacts import SequencePreprocessing, TabularPreprocessing
from artifacts.golden import GOLDEN_FILE
from artifacts.sequence import encode_sequences
from artifacts.store import MANIFEST_FILE, WEIGHTS_FILE, load_artifact, sha256_file
from artifacts.tabular import standardise
from nets.course import binary_probabilities, per_position_probabilities
from tests.training.course import CourseRun
from tests.training.smoke import preserved_torch_state
from training.__main__ import main
from training.evaluate import evaluate_artifact
from training.hello import answer
from training.plots import LEARNING_CURVE_FILE, LOSS_SURFACE_FILE

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TASKS = {
    "linear-regression": "regression",
    "logistic-regression": "tabular-classification",
    "diabetes-mlp": "tabular-classification",
    "hello-rnncell": "sequence-labelling",
    "hello-rnn": "sequence-labelling",
    "hello-embedding": "sequence-labelling",
}
LABELS = {
    "linear-regression": ["y"],
    "logistic-regression": ["fail", "pass"],
    "diabetes-mlp": ["diabetes", "no diabetes"],
}


def test_artifact_files_exist(course_run: CourseRun) -> None:
    for name in (MANIFEST_FILE, WEIGHTS_FILE, GOLDEN_FILE):
        assert (course_run.directory / name).is_file()
    assert (course_run.directory / LEARNING_CURVE_FILE).read_bytes().startswith(PNG_SIGNATURE)
    surface = course_run.directory / LOSS_SURFACE_FILE
    if course_run.name == "linear-regression":
        assert surface.read_bytes().startswith(PNG_SIGNATURE)
    else:
        assert not surface.exists()


def test_manifest_describes_the_run(course_run: CourseRun) -> None:
    artifact = load_artifact(course_run.directory)
    manifest = artifact.manifest
    assert (manifest.name, manifest.version, manifest.architecture) == (course_run.name, 1, course_run.name)
    assert manifest.task == TASKS[course_run.name]
    assert manifest.labels == LABELS.get(course_run.name, ["e", "h", "l", "o"])
    assert manifest.parameters == sum(p.numel() for p in artifact.model.parameters())
    assert manifest.training.command == shlex.join(["python", "-m", "training", *course_run.argv])
    assert manifest.training.device == "cpu"
    assert manifest.training.epochs_run == manifest.training.best_epoch == manifest.training.config["epochs"]
    assert manifest.metrics.val_accuracy is None
    if course_run.name == "diabetes-mlp":
        assert course_run.data_dir is not None
        assert manifest.data_checksums == {"diabetes.csv": sha256_file(course_run.data_dir / "diabetes.csv")}
    else:
        assert manifest.data_checksums == {}
        assert manifest.metrics.test_accuracy is None


@torch.inference_mode()
def test_golden_samples_are_reproduced_by_the_shared_transforms(course_run: CourseRun) -> None:
    artifact = load_artifact(course_run.directory)
    golden, prep, model = artifact.golden, artifact.manifest.preprocessing, artifact.model
    if isinstance(prep, TabularPreprocessing):
        assert golden.features is not None and golden.names is None
        output = model(standardise(golden.features, prep.mean, prep.std))
        served = output if artifact.manifest.task == "regression" else binary_probabilities(output)
        assert golden.probabilities.shape == (len(golden.features), len(artifact.manifest.labels))
    else:
        assert isinstance(prep, SequencePreprocessing)
        assert golden.names is not None and golden.features is None
        tokens, _ = encode_sequences(golden.names, prep.vocabulary, prep.max_length)
        served = per_position_probabilities(model(tokens))
        assert golden.probabilities.shape == (len(golden.names), len(golden.names[0]), 4)
    assert golden.max_abs_error(served) < 1e-6


def test_the_run_meets_the_issue_targets(course_run: CourseRun) -> None:
    artifact = load_artifact(course_run.directory)
    metrics = artifact.manifest.metrics
    if course_run.name == "linear-regression":
        assert abs(metrics.extra["prediction_at_4"] - 8.0) < 0.01, metrics
        assert abs(metrics.extra["w"] - 2.0) < 0.01 and abs(metrics.extra["b"]) < 0.01, metrics
        with torch.inference_mode():
            assert abs(float(artifact.model(torch.tensor([[4.0]]))) - 8.0) < 0.01
    elif course_run.name == "logistic-regression":
        assert metrics.extra["p_pass_1h"] < 0.5 < metrics.extra["p_pass_4h"], metrics
        assert metrics.extra["train_accuracy"] == 100.0
    elif course_run.name == "diabetes-mlp":
        assert metrics.test_accuracy is not None and metrics.test_accuracy >= 77.0, metrics
        assert metrics.extra["cv_accuracy_mean"] >= 76.0, metrics
        assert metrics.test_size == 152
        assert set(metrics.per_class_accuracy) == {"diabetes", "no diabetes"}
    else:
        assert metrics.extra["train_char_accuracy"] == 100.0, metrics
        assert answer(artifact.model, "hello") == "ohlol"
        assert metrics.test_size == 5


def test_evaluation_recomputes_every_figure(course_run: CourseRun, tmp_path: Path) -> None:
    result = evaluate_artifact(course_run.directory, course_run.data_dir or tmp_path / "no-data-needed")
    manifest = load_artifact(course_run.directory).manifest
    assert [figure.name for figure in result.figures] == list(manifest.metrics.extra)
    assert result.agrees, result.summary()
    assert result.summary().endswith(" ok")


@pytest.mark.parametrize("command", [["regression"], ["hello", "--arch", "rnncell"]])
def test_training_is_deterministic(command: list[str], tmp_path: Path) -> None:
    """Two runs with the same seed write identical weights and golden samples."""
    for store in ("a", "b"):
        with preserved_torch_state():
            main([*command, "--threads", "1", "--store", str(tmp_path / store), "--name", "same"])
    for name in (WEIGHTS_FILE, GOLDEN_FILE):
        assert sha256_file(tmp_path / "a" / "same" / "1" / name) == sha256_file(tmp_path / "b" / "same" / "1" / name)


def test_name_and_version_arguments(tmp_path: Path) -> None:
    with preserved_torch_state():
        main(["logistic", "--epochs", "10", "--store", str(tmp_path), "--name", "pass-or-fail", "--version", "3"])
    manifest = load_artifact(tmp_path / "pass-or-fail" / "3").manifest
    assert (manifest.name, manifest.version, manifest.architecture) == ("pass-or-fail", 3, "logistic-regression")
    assert manifest.training.epochs_run == 10
