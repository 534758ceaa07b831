"""Write one of the course's models as an artifact: manifest, weights, golden samples, learning curve."""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from torch import nn

from artifacts import GoldenSamples, Metrics, ModelManifest, ModelStore, TrainingRecord, save_artifact
from artifacts.manifest import Preprocessing, Task
from training.course_loop import CourseFit
from training.plots import save_course_curve
from training.publish import library_versions


@dataclass(frozen=True)
class CourseArtifact:
    """Everything a course model's manifest says beyond what training measured."""

    name: str
    task: Task
    architecture: str
    architecture_args: dict[str, Any]
    labels: list[str]
    preprocessing: Preprocessing
    loss_name: str


def publish_course_model(
    spec: CourseArtifact,
    model: nn.Module,
    *,
    fit: CourseFit,
    metrics: Metrics,
    golden: GoldenSamples,
    store: ModelStore,
    version: int | None,
    config: dict[str, Any],
    command: str,
    checksums: dict[str, str],
) -> Path:
    """Save the artifact as ``<store>/<name>/<version>/`` with its learning curve; return the folder."""
    version = version or store.next_version(spec.name)
    directory = store.root / spec.name / str(version)
    manifest = ModelManifest(
        name=spec.name,
        version=version,
        task=spec.task,
        architecture=spec.architecture,
        architecture_args=spec.architecture_args,
        labels=spec.labels,
        preprocessing=spec.preprocessing,
        metrics=metrics,
        training=TrainingRecord(
            command=command,
            config=config,
            device="cpu",
            seconds=round(fit.seconds, 1),
            epochs_run=len(fit.history),
            best_epoch=len(fit.history),  # the last epoch's weights are kept, never picked
        ),
        data_checksums=checksums,
        library_versions=library_versions(),
        created_at=datetime.now(UTC),
        parameters=sum(p.numel() for p in model.parameters()),
        files={},
    )
    save_artifact(directory, manifest, model.cpu().eval(), golden)
    save_course_curve(fit.history, f"{spec.name} v{version}", spec.loss_name, directory)
    return directory
