"""The artifact store: everything that training writes and the service reads.

Manifest schema, weight format (safetensors + sha256), golden samples, name
folding and normalisation constants live here and nowhere else, so training and
serving cannot disagree about them.
"""

from artifacts.errors import (
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ManifestError,
)
from artifacts.golden import GoldenSamples
from artifacts.manifest import (
    ImagePreprocessing,
    Metrics,
    ModelManifest,
    Task,
    TextPreprocessing,
    TrainingRecord,
)
from artifacts.store import LoadedArtifact, ModelStore, save_artifact

__all__ = [
    "ArtifactError",
    "ArtifactIntegrityError",
    "ArtifactNotFoundError",
    "GoldenSamples",
    "ImagePreprocessing",
    "LoadedArtifact",
    "ManifestError",
    "Metrics",
    "ModelManifest",
    "ModelStore",
    "Task",
    "TextPreprocessing",
    "TrainingRecord",
    "save_artifact",
]
