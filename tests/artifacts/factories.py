"""Builders of small, complete artifacts: a fresh model, its golden samples and a manifest."""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from artifacts import (
    GoldenSamples,
    ImagePreprocessing,
    Metrics,
    ModelManifest,
    TextPreprocessing,
    TrainingRecord,
    save_artifact,
)
from artifacts.text import FOLDING_RULE, MAX_NAME_LENGTH, VOCABULARY, encode_names, fold_name
from nets import build_model


@dataclass(frozen=True)
class SavedArtifact:
    directory: Path
    manifest: ModelManifest
    model: nn.Module
    golden: GoldenSamples
    inputs: tuple[torch.Tensor, ...]


def make_manifest(
    *, name: str, version: int, architecture: str, architecture_args: dict[str, Any], labels: list[str]
) -> ModelManifest:
    preprocessing: ImagePreprocessing | TextPreprocessing = (
        ImagePreprocessing()
        if architecture.startswith("digits-")
        else TextPreprocessing(vocabulary=VOCABULARY, folding=FOLDING_RULE, max_length=MAX_NAME_LENGTH)
    )
    return ModelManifest(
        name=name,
        version=version,
        task="image-classification" if architecture.startswith("digits-") else "text-classification",
        architecture=architecture,
        architecture_args=architecture_args,
        labels=labels,
        preprocessing=preprocessing,
        metrics=Metrics(val_accuracy=50.0, test_accuracy=50.0, test_size=10, per_class_accuracy={}),
        training=TrainingRecord(
            command="python -m training test", config={}, device="cpu", seconds=0.0, epochs_run=1, best_epoch=1
        ),
        data_checksums={},
        library_versions={"torch": torch.__version__},
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        parameters=1,
        files={},
    )


def save_digits(directory: Path, *, architecture: str = "digits-cnn", version: int = 1) -> SavedArtifact:
    torch.manual_seed(version)
    model = build_model(architecture).eval()
    manifest = make_manifest(
        name=directory.parent.name,
        version=version,
        architecture=architecture,
        architecture_args={},
        labels=[str(digit) for digit in range(10)],
    )
    pixels = torch.randint(0, 256, (4, 28, 28), dtype=torch.uint8)
    inputs = ((pixels.float() / 255.0).unsqueeze(1),)
    with torch.inference_mode():
        golden = GoldenSamples(probabilities=model(*inputs).softmax(dim=1), pixels=pixels)
    manifest = save_artifact(directory, manifest, model, golden)
    return SavedArtifact(directory, manifest, model, golden, inputs)


def save_names(directory: Path, *, version: int = 1) -> SavedArtifact:
    torch.manual_seed(version)
    labels = ["Czech", "Greek", "Japanese"]
    args = {"vocab_size": len(VOCABULARY) + 2, "num_classes": len(labels), "hidden_size": 16, "num_layers": 1}
    model = build_model("names-gru", **args).eval()
    manifest = make_manifest(
        name=directory.parent.name, version=version, architecture="names-gru", architecture_args=args, labels=labels
    )
    names = ["Dvořák", "Παπαδόπουλος", "Nakamura"]
    inputs = encode_names([fold_name(name) for name in names])
    with torch.inference_mode():
        golden = GoldenSamples(probabilities=model(*inputs).softmax(dim=1), names=names)
    manifest = save_artifact(directory, manifest, model, golden)
    return SavedArtifact(directory, manifest, model, golden, inputs)
