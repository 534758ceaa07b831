"""Reading and writing versioned artifacts: ``<root>/<name>/<version>/``.

Weights are safetensors files checked against the manifest's sha256 before
they are parsed; nothing here unpickles anything.
"""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from artifacts.errors import (
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ManifestError,
)
from artifacts.golden import GOLDEN_FILE, GoldenSamples
from artifacts.manifest import MODEL_NAME_PATTERN, ModelManifest
from nets import build_model

MANIFEST_FILE = "manifest.json"
WEIGHTS_FILE = "weights.safetensors"
VERSION_PATTERN = re.compile(r"^[1-9][0-9]*$")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class LoadedArtifact:
    manifest: ModelManifest
    model: nn.Module
    golden: GoldenSamples
    path: Path


def save_artifact(directory: Path, manifest: ModelManifest, model: nn.Module, golden: GoldenSamples) -> ModelManifest:
    """Write weights, golden samples and the manifest (with their sha256) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_FILE))
    golden_tensors = {"probabilities": golden.probabilities.float().cpu().contiguous()}
    if golden.pixels is not None:
        golden_tensors["pixels"] = golden.pixels.to(torch.uint8).cpu().contiguous()
    if golden.features is not None:
        golden_tensors["features"] = golden.features.float().cpu().contiguous()
    save_file(golden_tensors, str(directory / GOLDEN_FILE))
    files = {name: sha256_file(directory / name) for name in (WEIGHTS_FILE, GOLDEN_FILE)}
    manifest = manifest.model_copy(update={"files": files, "golden_names": golden.names})
    (directory / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2) + "\n")
    return manifest


def read_manifest(directory: Path) -> ModelManifest:
    path = directory / MANIFEST_FILE
    try:
        return ModelManifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise ArtifactNotFoundError(f"{path}: manifest file is missing") from None
    except ValidationError as exc:
        raise ManifestError(f"{path}: invalid manifest: {exc}") from None


def _load_checked_tensors(directory: Path, manifest: ModelManifest, name: str) -> dict[str, torch.Tensor]:
    path = directory / name
    expected = manifest.files.get(name)
    if expected is None:
        raise ManifestError(f"{directory / MANIFEST_FILE}: no sha256 listed for {name}")
    if not path.is_file():
        raise ArtifactNotFoundError(f"{path}: file is missing")
    actual = sha256_file(path)
    if actual != expected:
        raise ArtifactIntegrityError(
            f"{path}: sha256 {actual[:12]}... does not match the manifest's {expected[:12]}...; "
            "the file was changed or corrupted after training"
        )
    try:
        return load_file(str(path))
    except SafetensorError as exc:
        raise ArtifactIntegrityError(f"{path}: not a valid safetensors file: {exc}") from None


def load_artifact(directory: Path) -> LoadedArtifact:
    """Load and verify one version folder; raises an ``ArtifactError`` naming the bad file."""
    manifest = read_manifest(directory)
    state = _load_checked_tensors(directory, manifest, WEIGHTS_FILE)
    golden_tensors = _load_checked_tensors(directory, manifest, GOLDEN_FILE)
    try:
        model = build_model(manifest.architecture, **manifest.architecture_args)
        model.load_state_dict(state, strict=True)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ArtifactIntegrityError(
            f"{directory / WEIGHTS_FILE}: does not fit architecture {manifest.architecture!r}: {exc}"
        ) from None
    model.eval()
    golden = GoldenSamples(
        probabilities=golden_tensors["probabilities"],
        pixels=golden_tensors.get("pixels"),
        names=manifest.golden_names,
        features=golden_tensors.get("features"),
    )
    return LoadedArtifact(manifest=manifest, model=model, golden=golden, path=directory)


class ModelStore:
    """A directory of ``<name>/<version>/`` folders, like Triton's model repository."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def model_names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and MODEL_NAME_PATTERN.match(p.name))

    def versions(self, name: str) -> list[int]:
        folder = self._model_dir(name)
        # ASCII digits without a leading zero only: "²".isdigit() is true but int() rejects it,
        # and "01" would resolve to a folder named "1".
        return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and VERSION_PATTERN.match(p.name))

    def resolve(self, name: str, version: int | None = None) -> Path:
        """The folder of ``version``, or of the highest version when none is pinned."""
        versions = self.versions(name)
        if not versions:
            raise ArtifactNotFoundError(f"{self._model_dir(name)}: no numbered version folders")
        chosen = versions[-1] if version is None else version
        if chosen not in versions:
            raise ArtifactNotFoundError(f"{self._model_dir(name)}: version {chosen} not found; available: {versions}")
        return self._model_dir(name) / str(chosen)

    def load(self, name: str, version: int | None = None) -> LoadedArtifact:
        return load_artifact(self.resolve(name, version))

    def next_version(self, name: str) -> int:
        try:
            return max(self.versions(name), default=0) + 1
        except ArtifactError:
            return 1

    def _model_dir(self, name: str) -> Path:
        if not MODEL_NAME_PATTERN.match(name):
            raise ArtifactNotFoundError(f"invalid model name {name!r}")
        folder = self.root / name
        if not folder.is_dir():
            raise ArtifactNotFoundError(f"{folder}: model folder not found in the store")
        return folder
