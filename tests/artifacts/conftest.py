"""Small artifacts built in tmp_path (see factories.py)."""

from pathlib import Path

import pytest

from tests.artifacts.factories import SavedArtifact, save_digits, save_names


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def digits_artifact(store_root: Path) -> SavedArtifact:
    return save_digits(store_root / "tiny-cnn" / "1")


@pytest.fixture(params=["digits", "names"])
def any_artifact(request: pytest.FixtureRequest, store_root: Path) -> SavedArtifact:
    if request.param == "digits":
        return save_digits(store_root / "tiny-cnn" / "1")
    return save_names(store_root / "tiny-gru" / "1")
