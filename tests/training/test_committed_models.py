"""Every committed artifact in models_store/ still measures what its manifest claims, and stays small.

The store's models are trained by scripts/train_all.sh and committed; this test finds them
itself, so a new model or version is checked without editing the test, and an empty store
fails instead of passing vacuously.
"""

from collections.abc import Callable
from pathlib import Path

import pytest

from artifacts import Metrics, ModelStore
from artifacts.golden import GOLDEN_FILE
from artifacts.store import MANIFEST_FILE, WEIGHTS_FILE
from training.evaluate import evaluate_artifact

pytestmark = pytest.mark.data

MAX_ARTIFACT_BYTES = 5 * 1024 * 1024


def _hello_target(metrics: Metrics) -> bool:
    return metrics.extra.get("train_char_accuracy") == 100.0


# The issue's "done when" figures for the course's models, read from the latest committed version.
COURSE_TARGETS: dict[str, Callable[[Metrics], bool]] = {
    "linear-regression": lambda m: (
        abs(m.extra["prediction_at_4"] - 8.0) < 0.01 and abs(m.extra["w"] - 2.0) < 0.01 and abs(m.extra["b"]) < 0.01
    ),
    "logistic-regression": lambda m: m.extra["p_pass_1h"] < 0.5 < m.extra["p_pass_4h"],
    "diabetes-mlp": lambda m: (m.test_accuracy or 0.0) >= 77.0 and m.extra["cv_accuracy_mean"] >= 76.0,
    "hello-rnncell": _hello_target,
    "hello-rnn": _hello_target,
    "hello-embedding": _hello_target,
}


def committed_versions(root: Path) -> list[Path]:
    store = ModelStore(root)
    return [store.resolve(name, version) for name in store.model_names() for version in store.versions(name)]


def test_committed_models_match_their_manifests(models_store: Path, data_dir: Path) -> None:
    directories = committed_versions(models_store)
    assert directories, f"no model versions found under {models_store}; run scripts/train_all.sh and commit them"
    results = [evaluate_artifact(directory, data_dir) for directory in directories]
    report = "\n".join(result.summary() for result in results)
    for directory, result in zip(directories, results, strict=True):
        assert (result.name, str(result.version)) == (directory.parent.name, directory.name), report
        # accuracy within the tolerance, the same row count, and every extra figure of the course's models
        assert result.agrees, report


def test_committed_artifacts_are_small(models_store: Path) -> None:
    directories = committed_versions(models_store)
    assert directories, f"no model versions found under {models_store}"
    sizes = {
        directory: sum((directory / name).stat().st_size for name in (WEIGHTS_FILE, GOLDEN_FILE, MANIFEST_FILE))
        for directory in directories
    }
    too_big = {str(d): size for d, size in sizes.items() if size >= MAX_ARTIFACT_BYTES}
    assert not too_big, f"artifacts over {MAX_ARTIFACT_BYTES} bytes: {too_big}"


@pytest.mark.parametrize("name", sorted(COURSE_TARGETS))
def test_committed_course_models_meet_the_issue_targets(models_store: Path, name: str) -> None:
    store = ModelStore(models_store)
    assert name in store.model_names(), f"{name} is not in {models_store} (scripts/train_all.sh course trains it)"
    metrics = store.load(name).manifest.metrics
    assert COURSE_TARGETS[name](metrics), metrics
