"""Every committed artifact in models_store/ still measures what its manifest claims, and stays small.

The store's models are trained by scripts/train_all.sh and committed; this test finds them
itself, so a new model or version is checked without editing the test, and an empty store
fails instead of passing vacuously.
"""

from pathlib import Path

import pytest

from artifacts import ModelStore
from artifacts.golden import GOLDEN_FILE
from artifacts.store import MANIFEST_FILE, WEIGHTS_FILE
from training.evaluate import TOLERANCE_POINTS, evaluate_artifact

pytestmark = pytest.mark.data

MAX_ARTIFACT_BYTES = 5 * 1024 * 1024


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
        assert abs(result.measured_accuracy - result.manifest_accuracy) <= TOLERANCE_POINTS + 1e-9, report
        assert result.measured_size == result.manifest_size, report


def test_committed_artifacts_are_small(models_store: Path) -> None:
    directories = committed_versions(models_store)
    assert directories, f"no model versions found under {models_store}"
    sizes = {
        directory: sum((directory / name).stat().st_size for name in (WEIGHTS_FILE, GOLDEN_FILE, MANIFEST_FILE))
        for directory in directories
    }
    too_big = {str(d): size for d, size in sizes.items() if size >= MAX_ARTIFACT_BYTES}
    assert not too_big, f"artifacts over {MAX_ARTIFACT_BYTES} bytes: {too_big}"
