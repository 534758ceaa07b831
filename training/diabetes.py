"""The course's diabetes table: 8 scaled features -> a 0/1 label, through a small sigmoid MLP.

A fixed stratified 80/20 split (by seed) gives the held-out accuracy; 5-fold stratified
cross-validation over every row, retraining the same recipe on each fold, gives the
accuracy one can expect from the recipe rather than from one lucky split. The label 0 is
the diabetic class: the course's table inverts the Pima outcome column (its first rows are
the Pima data set's first patients, diabetic, with label 0), so 1 is "no diabetes".
"""

import csv
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from artifacts import GoldenSamples
from artifacts.manifest import TABULAR_CLASSIFICATION, Feature, TabularPreprocessing
from artifacts.store import sha256_file
from artifacts.tabular import scaling_statistics, standardise
from nets import build_model
from nets.course import binary_probabilities
from training.course_loop import (
    CourseFit,
    OptimiserName,
    Pair,
    fit_course_model,
    make_optimiser,
    shuffled_batches,
    whole_batch,
)
from training.course_publish import CourseArtifact

DATA_FILE = "diabetes.csv"
LABELS = ["diabetes", "no diabetes"]  # index = the table's label column
FEATURE_NAMES = ["pregnancies", "glucose", "blood_pressure", "skin_thickness", "insulin", "bmi", "pedigree", "age"]
FEATURES = [
    Feature(
        name=name,
        minimum=-1.0,
        maximum=1.0,
        description=f"{name.replace('_', ' ')}, scaled to [-1, 1] as in the course's table",
    )
    for name in FEATURE_NAMES
]
GOLDEN_ROWS = 8


@dataclass(frozen=True)
class DiabetesTable:
    features: torch.Tensor  # (N, 8) float32, as in the file
    labels: torch.Tensor  # (N,) float32, 0 or 1
    checksums: dict[str, str]


@dataclass(frozen=True)
class DiabetesRecipe:
    """How one model is trained; stored in the manifest so evaluation can retrain the folds."""

    activation: str = "sigmoid"
    hidden_sizes: list[int] = field(default_factory=lambda: [6, 4])
    optimiser: OptimiserName = "adam"
    lr: float = 0.01
    epochs: int = 100
    batch_size: int = 32
    weight_decay: float = 0.0
    seed: int = 1
    held_out_fraction: float = 0.2
    folds: int = 5

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "DiabetesRecipe":
        return cls(**{key: config[key] for key in asdict(cls()) if key in config})

    @property
    def architecture_args(self) -> dict[str, Any]:
        return {
            "in_features": len(FEATURE_NAMES),
            "hidden_sizes": list(self.hidden_sizes),
            "activation": self.activation,
        }


def load_diabetes(path: Path) -> DiabetesTable:
    """Rows of 8 floats and a 0/1 label, no header."""
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    bad = [i for i, row in enumerate(rows, 1) if len(row) != len(FEATURE_NAMES) + 1 or row[-1].strip() not in "01"]
    if bad:
        raise ValueError(f"{path}: rows {bad[:5]} do not hold {len(FEATURE_NAMES)} features and a 0/1 label")
    table = torch.tensor([[float(value) for value in row] for row in rows], dtype=torch.float32)
    return DiabetesTable(table[:, :-1].contiguous(), table[:, -1].contiguous(), {path.name: sha256_file(path)})


def stratified_folds(labels: torch.Tensor, folds: int, seed: int) -> list[list[int]]:
    """Row indices dealt into ``folds`` groups class by class, in a seeded order; each group sorted."""
    generator = torch.Generator().manual_seed(seed)
    groups: list[list[int]] = [[] for _ in range(folds)]
    dealt = 0
    for value in (0.0, 1.0):
        rows = (labels == value).nonzero().flatten()
        for row in rows[torch.randperm(len(rows), generator=generator)].tolist():
            groups[dealt % folds].append(row)
            dealt += 1
    return [sorted(group) for group in groups]


def held_out_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train rows, held-out rows): ``fraction`` of each class, rounded, held out by a seeded shuffle."""
    generator = torch.Generator().manual_seed(seed)
    train: list[int] = []
    held: list[int] = []
    for value in (0.0, 1.0):
        rows = (labels == value).nonzero().flatten()
        order = rows[torch.randperm(len(rows), generator=generator)].tolist()
        n_held = round(len(order) * fraction)
        held += order[:n_held]
        train += order[n_held:]
    return sorted(train), sorted(held)


def positive_accuracy(p: torch.Tensor, labels: torch.Tensor) -> float:
    """Percent of rows whose p > 0.5 matches the 0/1 label, counted in integers."""
    correct = int(((p.reshape(-1) > 0.5).float() == labels.reshape(-1)).sum())
    return 100.0 * correct / max(len(labels), 1)


def bce(p: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy(p.reshape(-1), labels.reshape(-1))


@torch.no_grad()
def positive_probability(model: nn.Module, mean: list[float], std: list[float], features: torch.Tensor) -> torch.Tensor:
    """P(label 1) (N,) for raw feature rows, scaled as the service scales them."""
    p: torch.Tensor = model.eval()(standardise(features, mean, std))
    return p.reshape(-1)


@dataclass(frozen=True)
class TrainedDiabetes:
    model: nn.Module
    fit: CourseFit
    mean: list[float]
    std: list[float]

    def positive_probability(self, features: torch.Tensor) -> torch.Tensor:
        return positive_probability(self.model, self.mean, self.std, features)


def train_diabetes(
    recipe: DiabetesRecipe, features: torch.Tensor, labels: torch.Tensor, held_out: Pair | None = None
) -> TrainedDiabetes:
    """Standardise with this training set's statistics, then train from a seed-fixed start."""
    mean, std = scaling_statistics(features)
    x = standardise(features, mean, std)
    torch.manual_seed(recipe.seed)
    model = build_model("diabetes-mlp", **recipe.architecture_args)
    pair = (x, labels)
    batches = whole_batch(pair) if recipe.batch_size <= 0 else shuffled_batches(pair, recipe.batch_size, recipe.seed)
    scaled_held = (standardise(held_out[0], mean, std), held_out[1]) if held_out is not None else None
    fit = fit_course_model(
        model,
        batches,
        train=pair,
        epochs=recipe.epochs,
        optimiser=make_optimiser(recipe.optimiser, model, recipe.lr, recipe.weight_decay),
        loss_fn=bce,
        scorer=positive_accuracy,
        held_out=scaled_held,
    )
    return TrainedDiabetes(model, fit, mean, std)


def cross_validate(table: DiabetesTable, recipe: DiabetesRecipe) -> list[float]:
    """Held-out accuracy (percent) of each of ``recipe.folds`` models, each trained on the other folds."""
    accuracies = []
    for fold in stratified_folds(table.labels, recipe.folds, recipe.seed):
        held = set(fold)
        train = [row for row in range(len(table.labels)) if row not in held]
        trained = train_diabetes(recipe, table.features[train], table.labels[train])
        accuracies.append(positive_accuracy(trained.positive_probability(table.features[fold]), table.labels[fold]))
    return accuracies


def cv_figures(accuracies: list[float]) -> dict[str, float]:
    return {
        "cv_accuracy_mean": round(statistics.fmean(accuracies), 2),
        "cv_accuracy_std": round(statistics.pstdev(accuracies), 2),
    }


def spec_for(recipe: DiabetesRecipe, mean: list[float], std: list[float], name: str) -> CourseArtifact:
    return CourseArtifact(
        name=name,
        task=TABULAR_CLASSIFICATION,
        architecture="diabetes-mlp",
        architecture_args=recipe.architecture_args,
        labels=list(LABELS),
        preprocessing=TabularPreprocessing(features=list(FEATURES), mean=mean, std=std),
        loss_name="binary cross-entropy",
    )


@torch.no_grad()
def diabetes_golden(trained: TrainedDiabetes, train_features: torch.Tensor) -> GoldenSamples:
    """The first training rows (never held-out ones), raw, with the served class probabilities."""
    features = train_features[:GOLDEN_ROWS].clone()
    p = trained.positive_probability(features).reshape(-1, 1)
    return GoldenSamples(probabilities=binary_probabilities(p), features=features)
