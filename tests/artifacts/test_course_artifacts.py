"""Tabular and sequence artifacts through the store: golden features and strings survive the round trip."""

from pathlib import Path

import pytest
import torch

from artifacts import ArtifactIntegrityError, SequencePreprocessing, TabularPreprocessing
from artifacts.golden import GOLDEN_FILE
from artifacts.sequence import encode_sequences
from artifacts.store import load_artifact
from artifacts.tabular import standardise
from nets.course import binary_probabilities, per_position_probabilities
from tests.artifacts.factories import SavedArtifact, save_sequence, save_tabular


@pytest.fixture
def tabular_artifact(store_root: Path) -> SavedArtifact:
    return save_tabular(store_root / "tiny-table" / "1")


@pytest.fixture
def sequence_artifact(store_root: Path) -> SavedArtifact:
    return save_sequence(store_root / "tiny-hello" / "1")


@torch.inference_mode()
def test_tabular_round_trip_reproduces_the_golden_probabilities(tabular_artifact: SavedArtifact) -> None:
    loaded = load_artifact(tabular_artifact.directory)
    assert loaded.manifest == tabular_artifact.manifest
    prep = loaded.manifest.preprocessing
    assert isinstance(prep, TabularPreprocessing)
    assert loaded.golden.features is not None and tabular_artifact.golden.features is not None
    assert loaded.golden.features.dtype == torch.float32
    assert torch.equal(loaded.golden.features, tabular_artifact.golden.features)
    assert loaded.golden.pixels is None and loaded.golden.names is None
    assert loaded.golden.probabilities.shape == (3, 2)
    served = binary_probabilities(loaded.model(standardise(loaded.golden.features, prep.mean, prep.std)))
    assert loaded.golden.max_abs_error(served) == 0.0


@torch.inference_mode()
def test_sequence_round_trip_reproduces_the_golden_probabilities(sequence_artifact: SavedArtifact) -> None:
    loaded = load_artifact(sequence_artifact.directory)
    assert loaded.manifest == sequence_artifact.manifest
    prep = loaded.manifest.preprocessing
    assert isinstance(prep, SequencePreprocessing)
    assert loaded.golden.names == ["hello", "olleh"]
    assert loaded.golden.features is None
    assert loaded.golden.probabilities.shape == (2, 5, 4)
    tokens, _ = encode_sequences(loaded.golden.names, prep.vocabulary, prep.max_length)
    assert loaded.golden.max_abs_error(per_position_probabilities(loaded.model(tokens))) == 0.0


def test_golden_features_are_covered_by_the_sha256(tabular_artifact: SavedArtifact) -> None:
    """The features live in the golden file, whose sha256 the manifest lists."""
    path = tabular_artifact.directory / GOLDEN_FILE
    content = bytearray(path.read_bytes())
    content[-1] ^= 0x01
    path.write_bytes(bytes(content))
    with pytest.raises(ArtifactIntegrityError, match=GOLDEN_FILE):
        load_artifact(tabular_artifact.directory)
