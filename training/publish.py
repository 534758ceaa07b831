"""Train a task's model, measure it on the test set and write a new artifact version."""

import platform
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from artifacts import GoldenSamples, Metrics, ModelManifest, ModelStore, TrainingRecord, save_artifact
from artifacts.manifest import ImagePreprocessing, Task, TextPreprocessing
from nets import build_model
from training.loop import Batch, FitConfig, accuracy_percent, fit, predict_logits
from training.plots import confusion_matrix, save_confusion_matrix, save_learning_curve


class TrainingTask(Protocol):
    @property
    def task(self) -> Task: ...
    @property
    def preprocessing(self) -> ImagePreprocessing | TextPreprocessing: ...
    @property
    def labels(self) -> list[str]: ...
    @property
    def steps_per_epoch(self) -> int: ...
    def train_batches(self, epoch: int) -> Iterator[Batch]: ...
    def golden(self, model: nn.Module) -> GoldenSamples: ...


def library_versions() -> dict[str, str]:
    names = ["torch", "safetensors", "pydantic", "numpy", "anyascii"]
    return {"python": platform.python_version(), **{n: package_version(n) for n in names}}


def per_class_accuracy(predicted: torch.Tensor, labels: torch.Tensor, names: list[str]) -> dict[str, float]:
    return {
        name: round(100.0 * float((predicted[labels == i] == i).float().mean()), 2)
        for i, name in enumerate(names)
        if bool((labels == i).any())
    }


def train_and_publish(
    task: TrainingTask,
    *,
    name: str,
    architecture: str,
    architecture_args: dict[str, Any],
    val_batches: Iterable[Batch],
    test_batches: Iterable[Batch],
    checksums: dict[str, str],
    fit_config: FitConfig,
    device: torch.device,
    store: ModelStore,
    version: int | None,
    config: dict[str, Any],
    command: str,
) -> Path:
    model = build_model(architecture, **architecture_args).to(device)
    val_list, test_list = list(val_batches), list(test_batches)
    result, best_state = fit(model, task.train_batches, lambda: val_list, fit_config, device)
    model.load_state_dict(best_state)
    test_logits, test_labels = predict_logits(model, test_list, device)
    predicted = test_logits.argmax(dim=1)
    metrics = Metrics(
        val_accuracy=round(result.best_val_accuracy, 2),
        test_accuracy=round(accuracy_percent(test_logits, test_labels), 2),
        test_size=len(test_labels),
        per_class_accuracy=per_class_accuracy(predicted, test_labels, task.labels),
    )
    version = version or store.next_version(name)
    directory = store.root / name / str(version)
    manifest = ModelManifest(
        name=name,
        version=version,
        task=task.task,
        architecture=architecture,
        architecture_args=architecture_args,
        labels=task.labels,
        preprocessing=task.preprocessing,
        metrics=metrics,
        training=TrainingRecord(
            command=command,
            config=config,
            device=str(device),
            seconds=round(result.seconds, 1),
            epochs_run=len(result.history),
            best_epoch=result.best_epoch,
        ),
        data_checksums=checksums,
        library_versions=library_versions(),
        created_at=datetime.now(UTC),
        parameters=sum(p.numel() for p in model.parameters()),
        files={},
    )
    save_artifact(directory, manifest, model, task.golden(model))
    title = f"{name} v{version}: test accuracy {metrics.test_accuracy:.2f}%"
    save_learning_curve(result.history, title, directory)
    matrix = confusion_matrix(predicted, test_labels, len(task.labels))
    save_confusion_matrix(matrix, task.labels, f"{name} v{version} on the test set", directory)
    print(
        f"wrote {directory}: val {metrics.val_accuracy:.2f}% test {metrics.test_accuracy:.2f}% "
        f"({metrics.test_size} test rows, {result.seconds:.0f} s)"
    )
    return directory
