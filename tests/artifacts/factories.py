"""Builders of small, complete artifacts: a fresh model, its golden samples and a manifest."""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from artifacts import (
    Feature,
    GoldenSamples,
    ImagePreprocessing,
    Metrics,
    ModelManifest,
    SequencePreprocessing,
    TabularPreprocessing,
    TextPreprocessing,
    TrainingRecord,
    save_artifact,
)
from artifacts.sequence import encode_sequences
from artifacts.tabular import standardise
from artifacts.text import FOLDING_RULE, MAX_NAME_LENGTH, VOCABULARY, encode_names, fold_name
from nets import build_model
from nets.course import binary_probabilities, per_position_probabilities


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


def save_tabular(directory: Path, *, version: int = 1) -> SavedArtifact:
    """A diabetes-style binary classifier over three named features, with real scaling statistics."""
    torch.manual_seed(version)
    args = {"in_features": 3, "hidden_sizes": [4], "activation": "relu"}
    model = build_model("diabetes-mlp", **args).eval()
    prep = TabularPreprocessing(
        features=[
            Feature(name="glucose", unit="mg/dl", minimum=0.0, maximum=300.0),
            Feature(name="bmi"),
            Feature(name="age"),
        ],
        mean=[120.0, 30.0, 40.0],
        std=[30.0, 5.0, 12.0],
    )
    manifest = make_manifest(
        name=directory.parent.name,
        version=version,
        architecture="diabetes-mlp",
        architecture_args=args,
        labels=["no", "yes"],
    ).model_copy(update={"task": "tabular-classification", "preprocessing": prep})
    features = torch.tensor([[85.0, 26.6, 31.0], [183.0, 23.3, 32.0], [0.0, 0.0, 0.0]])
    inputs = (standardise(features, prep.mean, prep.std),)
    with torch.inference_mode():
        golden = GoldenSamples(probabilities=binary_probabilities(model(*inputs)), features=features)
    manifest = save_artifact(directory, manifest, model, golden)
    return SavedArtifact(directory, manifest, model, golden, inputs)


def save_sequence(directory: Path, *, version: int = 1) -> SavedArtifact:
    """A hello-style character model: per-position probabilities over a four-letter vocabulary."""
    torch.manual_seed(version)
    model = build_model("hello-rnn").eval()
    prep = SequencePreprocessing(vocabulary="ehlo", max_length=16)
    manifest = make_manifest(
        name=directory.parent.name, version=version, architecture="hello-rnn", architecture_args={}, labels=list("ehlo")
    ).model_copy(update={"task": "sequence-labelling", "preprocessing": prep})
    names = ["hello", "olleh"]
    inputs = (encode_sequences(names, prep.vocabulary, prep.max_length)[0],)
    with torch.inference_mode():
        golden = GoldenSamples(probabilities=per_position_probabilities(model(*inputs)), names=names)
    manifest = save_artifact(directory, manifest, model, golden)
    return SavedArtifact(directory, manifest, model, golden, inputs)
