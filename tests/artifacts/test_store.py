"""Saving, verifying and resolving artifacts in a ``<root>/<name>/<version>/`` store."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from artifacts import ArtifactIntegrityError, ArtifactNotFoundError, ManifestError, ModelStore
from artifacts.golden import GOLDEN_FILE
from artifacts.store import MANIFEST_FILE, WEIGHTS_FILE, load_artifact, sha256_file
from nets import build_model
from tests.artifacts.factories import SavedArtifact, save_digits


def edit_manifest(directory: Path, **changes: Any) -> None:
    path = directory / MANIFEST_FILE
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def replace_file_keeping_manifest_valid(directory: Path, name: str, content: bytes) -> None:
    """Swap a file and record its new sha256, as a careless (not malicious) edit would."""
    (directory / name).write_bytes(content)
    files = json.loads((directory / MANIFEST_FILE).read_text())["files"]
    edit_manifest(directory, files={**files, name: sha256_file(directory / name)})


# --- round trip ----------------------------------------------------------------------------------


def test_round_trip_gives_identical_outputs(any_artifact: SavedArtifact) -> None:
    loaded = load_artifact(any_artifact.directory)
    assert loaded.manifest == any_artifact.manifest
    assert not loaded.model.training
    with torch.inference_mode():
        torch.testing.assert_close(
            loaded.model(*any_artifact.inputs), any_artifact.model(*any_artifact.inputs), rtol=0, atol=0
        )
    torch.testing.assert_close(loaded.golden.probabilities, any_artifact.golden.probabilities, rtol=0, atol=0)
    if any_artifact.golden.pixels is None:
        assert loaded.golden.pixels is None
    else:
        assert loaded.golden.pixels is not None
        assert torch.equal(loaded.golden.pixels, any_artifact.golden.pixels)
    assert loaded.golden.names == any_artifact.golden.names
    with torch.inference_mode():
        reproduced = loaded.model(*any_artifact.inputs).softmax(dim=1)
    assert loaded.golden.max_abs_error(reproduced) == 0.0


def test_manifest_records_the_sha256_of_each_file(digits_artifact: SavedArtifact) -> None:
    directory = digits_artifact.directory
    assert digits_artifact.manifest.files == {
        WEIGHTS_FILE: sha256_file(directory / WEIGHTS_FILE),
        GOLDEN_FILE: sha256_file(directory / GOLDEN_FILE),
    }


# --- integrity -----------------------------------------------------------------------------------


@pytest.mark.parametrize("file_name", [WEIGHTS_FILE, GOLDEN_FILE])
def test_a_flipped_byte_is_detected(digits_artifact: SavedArtifact, file_name: str) -> None:
    path = digits_artifact.directory / file_name
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))
    with pytest.raises(ArtifactIntegrityError, match=file_name) as excinfo:
        load_artifact(digits_artifact.directory)
    assert "sha256" in str(excinfo.value)


@pytest.mark.parametrize("file_name", [WEIGHTS_FILE, GOLDEN_FILE])
def test_a_missing_file_is_named(digits_artifact: SavedArtifact, file_name: str) -> None:
    (digits_artifact.directory / file_name).unlink()
    with pytest.raises(ArtifactNotFoundError, match=file_name):
        load_artifact(digits_artifact.directory)


@pytest.mark.parametrize("content", [b"", b"not a safetensors file at all", b"\xff" * 64])
def test_weights_that_are_not_safetensors_fail_cleanly(digits_artifact: SavedArtifact, content: bytes) -> None:
    replace_file_keeping_manifest_valid(digits_artifact.directory, WEIGHTS_FILE, content)
    with pytest.raises(ArtifactIntegrityError, match=WEIGHTS_FILE):
        load_artifact(digits_artifact.directory)


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(build_model("digits-mlp").state_dict(), id="other-architecture"),
        pytest.param({"fc.weight": torch.zeros(10, 320)}, id="missing-tensors"),
        pytest.param(
            {k: torch.zeros(*v.shape, 2) for k, v in build_model("digits-cnn").state_dict().items()},
            id="wrong-shapes",
        ),
    ],
)
def test_weights_that_do_not_fit_the_architecture(digits_artifact: SavedArtifact, state: dict[str, Any]) -> None:
    directory = digits_artifact.directory
    save_file({k: v.contiguous() for k, v in state.items()}, str(directory / WEIGHTS_FILE))
    replace_file_keeping_manifest_valid(directory, WEIGHTS_FILE, (directory / WEIGHTS_FILE).read_bytes())
    with pytest.raises(ArtifactIntegrityError, match="does not fit architecture 'digits-cnn'"):
        load_artifact(directory)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"architecture_args": {"dropout": 0.0, "width": 3}}, id="unknown-argument"),
        pytest.param({"architecture": "digits-vit"}, id="unknown-architecture"),
    ],
)
def test_manifest_that_cannot_build_the_model(digits_artifact: SavedArtifact, changes: dict[str, Any]) -> None:
    edit_manifest(digits_artifact.directory, **changes)
    with pytest.raises(ArtifactIntegrityError, match=WEIGHTS_FILE):
        load_artifact(digits_artifact.directory)


# --- manifest ------------------------------------------------------------------------------------


def _without_metrics(data: dict[str, Any]) -> str:
    del data["metrics"]
    return json.dumps(data)


@pytest.mark.parametrize(
    "rewrite",
    [
        pytest.param(lambda data: "{not json", id="not-json"),
        pytest.param(lambda data: "[]", id="not-an-object"),
        pytest.param(_without_metrics, id="missing-field"),
        pytest.param(lambda data: json.dumps({**data, "version": "one"}), id="wrong-type"),
        pytest.param(lambda data: json.dumps({**data, "name": "../escape"}), id="bad-name"),
        pytest.param(lambda data: json.dumps({**data, "surprise": 1}), id="extra-field"),
    ],
)
def test_invalid_manifest_raises_manifest_error(
    digits_artifact: SavedArtifact, rewrite: Callable[[dict[str, Any]], str]
) -> None:
    path = digits_artifact.directory / MANIFEST_FILE
    path.write_text(rewrite(json.loads(path.read_text())))
    with pytest.raises(ManifestError, match=MANIFEST_FILE):
        load_artifact(digits_artifact.directory)


def test_missing_manifest_is_not_found(digits_artifact: SavedArtifact) -> None:
    (digits_artifact.directory / MANIFEST_FILE).unlink()
    with pytest.raises(ArtifactNotFoundError, match=MANIFEST_FILE):
        load_artifact(digits_artifact.directory)


def test_file_without_a_listed_sha256_is_refused(digits_artifact: SavedArtifact) -> None:
    edit_manifest(digits_artifact.directory, files={GOLDEN_FILE: digits_artifact.manifest.files[GOLDEN_FILE]})
    with pytest.raises(ManifestError, match=WEIGHTS_FILE):
        load_artifact(digits_artifact.directory)


# --- the store -----------------------------------------------------------------------------------


@pytest.fixture
def versioned_store(store_root: Path) -> ModelStore:
    for version in (1, 2, 10):
        save_digits(store_root / "tiny-cnn" / str(version), version=version)
    return ModelStore(store_root)


def test_highest_version_wins_numerically(versioned_store: ModelStore) -> None:
    assert versioned_store.versions("tiny-cnn") == [1, 2, 10]
    assert versioned_store.resolve("tiny-cnn") == versioned_store.root / "tiny-cnn" / "10"
    assert versioned_store.load("tiny-cnn").manifest.version == 10


@pytest.mark.parametrize("version", [1, 2, 10])
def test_pinned_version(versioned_store: ModelStore, version: int) -> None:
    assert versioned_store.load("tiny-cnn", version).manifest.version == version


def test_missing_version_lists_the_available_ones(versioned_store: ModelStore) -> None:
    with pytest.raises(ArtifactNotFoundError, match=r"version 3 not found; available: \[1, 2, 10\]"):
        versioned_store.resolve("tiny-cnn", 3)


@pytest.mark.parametrize("name", ["missing", "Bad Name", "../tiny-cnn", ".hidden"])
def test_unknown_or_invalid_model_names_are_not_found(versioned_store: ModelStore, name: str) -> None:
    with pytest.raises(ArtifactNotFoundError):
        versioned_store.resolve(name)


def test_model_without_versions_is_not_found(store_root: Path) -> None:
    (store_root / "empty" / "latest").mkdir(parents=True)
    with pytest.raises(ArtifactNotFoundError, match="no numbered version folders"):
        ModelStore(store_root).resolve("empty")


def test_store_ignores_non_numeric_folders_and_invalid_names(versioned_store: ModelStore) -> None:
    root = versioned_store.root
    for junk in ["latest", "v3", "3.0", "-1", "0", "07", "²", "١٢"]:
        (root / "tiny-cnn" / junk).mkdir()
    (root / "tiny-cnn" / "11").write_text("a file, not a version folder")
    for junk in ["Bad Name", ".hidden", "UPPER", "_private"]:
        (root / junk / "1").mkdir(parents=True)
    (root / "not-a-folder").write_text("")
    assert versioned_store.model_names() == ["tiny-cnn"]
    assert versioned_store.versions("tiny-cnn") == [1, 2, 10]
    assert versioned_store.resolve("tiny-cnn").name == "10"


def test_missing_root_has_no_models(tmp_path: Path) -> None:
    assert ModelStore(tmp_path / "nowhere").model_names() == []


@pytest.mark.parametrize(("existing", "expected"), [([], 1), ([1], 2), ([1, 2, 10], 11)])
def test_next_version(store_root: Path, existing: list[int], expected: int) -> None:
    for version in existing:
        (store_root / "tiny-cnn" / str(version)).mkdir(parents=True)
    assert ModelStore(store_root).next_version("tiny-cnn") == expected
