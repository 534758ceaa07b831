"""The artifact store: everything that training writes and the service reads.

Manifest schema, weight format (safetensors + sha256), golden samples, name
folding, normalisation constants, feature scaling (``artifacts.tabular``) and
sequence encoding (``artifacts.sequence``) live here and nowhere else, so training
and serving cannot disagree about them.
"""

from artifacts.errors import (
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ManifestError,
)
from artifacts.golden import GoldenSamples
from artifacts.manifest import (
    Feature,
    ImagePreprocessing,
    Metrics,
    ModelManifest,
    Preprocessing,
    SequencePreprocessing,
    TabularPreprocessing,
    Task,
    TextPreprocessing,
    TrainingRecord,
)
from artifacts.store import LoadedArtifact, ModelStore, save_artifact

__all__ = [
    "ArtifactError",
    "ArtifactIntegrityError",
    "ArtifactNotFoundError",
    "Feature",
    "GoldenSamples",
    "ImagePreprocessing",
    "LoadedArtifact",
    "ManifestError",
    "Metrics",
    "ModelManifest",
    "ModelStore",
    "Preprocessing",
    "SequencePreprocessing",
    "TabularPreprocessing",
    "Task",
    "TextPreprocessing",
    "TrainingRecord",
    "save_artifact",
]
