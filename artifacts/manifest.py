"""The manifest: a self-describing record of one trained model version."""

import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# An open set: the service checks a manifest's task against the task classes it has registered,
# so a plugin can add a kind without a change here.
Task = str
TASK_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,63}$")

IMAGE_CLASSIFICATION: Task = "image-classification"
TEXT_CLASSIFICATION: Task = "text-classification"
REGRESSION: Task = "regression"
TABULAR_CLASSIFICATION: Task = "tabular-classification"
SEQUENCE_LABELLING: Task = "sequence-labelling"

# Names become folder names; keep them boring so nothing can escape the store.
MODEL_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# Feature names become JSON keys and Python identifiers in clients.
FEATURE_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ImagePreprocessing(_Frozen):
    kind: Literal["image"] = "image"
    input_size: tuple[int, int] = (28, 28)
    mean: float = MNIST_MEAN
    std: float = MNIST_STD
    convention: str = Field(
        default="white digit on black, ink centred by centre of mass in a 20x20 box",
        description="What a model input looks like; uploads are converted to it.",
    )


class TextPreprocessing(_Frozen):
    kind: Literal["text"] = "text"
    vocabulary: str = Field(description="Characters in index order; index 0 pads, 1 is unknown.")
    folding: str = Field(description="Name of the folding rule, see artifacts.text.")
    max_length: int = Field(gt=0, description="Longest accepted name after stripping.")


class Feature(_Frozen):
    """One named input of a tabular model, in the units a client sends."""

    name: str
    unit: str = ""
    minimum: float | None = Field(default=None, description="smallest accepted raw value; None: no bound")
    maximum: float | None = Field(default=None, description="largest accepted raw value; None: no bound")
    description: str = ""

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not FEATURE_NAME_PATTERN.match(name):
            raise ValueError(f"feature name {name!r} must match {FEATURE_NAME_PATTERN.pattern}")
        return name

    @model_validator(mode="after")
    def _check_range(self) -> Self:
        bounds = [b for b in (self.minimum, self.maximum) if b is not None]
        if not all(math.isfinite(b) for b in bounds):
            raise ValueError(f"feature {self.name!r}: bounds must be finite numbers or null")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"feature {self.name!r}: minimum {self.minimum} is above maximum {self.maximum}")
        return self


class TabularPreprocessing(_Frozen):
    """Named float features, standardised as ``(x - mean) / std`` before the model sees them.

    The statistics come from the training split only; a mean of 0 and a std of 1 is the
    identity, for models whose weights are meant to be read in the raw units.
    """

    kind: Literal["tabular"] = "tabular"
    features: list[Feature] = Field(min_length=1, description="model inputs in column order")
    mean: list[float] = Field(description="per feature, subtracted first")
    std: list[float] = Field(description="per feature, divided by after the mean is subtracted")

    @model_validator(mode="after")
    def _check_statistics(self) -> Self:
        n = len(self.features)
        if len(self.mean) != n or len(self.std) != n:
            raise ValueError(f"{n} features need {n} means and stds; got {len(self.mean)} and {len(self.std)}")
        if not all(math.isfinite(m) for m in self.mean):
            raise ValueError("every mean must be a finite number")
        bad = [f.name for f, s in zip(self.features, self.std, strict=True) if not (math.isfinite(s) and s > 0)]
        if bad:
            raise ValueError(f"std must be a finite number above 0; it is not for {bad}")
        names = [f.name for f in self.features]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"feature names must be unique; repeated: {repeated}")
        return self

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]


class SequencePreprocessing(_Frozen):
    """A string over a closed alphabet; character ``vocabulary[i]`` is input index ``i``.

    There is no unknown index: a character outside the vocabulary is refused, see
    ``artifacts.sequence``.
    """

    kind: Literal["sequence"] = "sequence"
    vocabulary: str = Field(min_length=1, description="Characters in index order, each once.")
    max_length: int = Field(gt=0, description="Longest accepted input, in characters.")

    @field_validator("vocabulary")
    @classmethod
    def _check_vocabulary(cls, vocabulary: str) -> str:
        repeated = sorted({ch for ch in vocabulary if vocabulary.count(ch) > 1})
        if repeated:
            raise ValueError(f"vocabulary characters must be unique; repeated: {repeated}")
        return vocabulary


Preprocessing = Annotated[
    ImagePreprocessing | TextPreprocessing | TabularPreprocessing | SequencePreprocessing,
    Field(discriminator="kind"),
]


class Metrics(_Frozen):
    val_accuracy: float | None = Field(
        default=None, ge=0, le=100, description="percent, on the validation split; None when there is none"
    )
    test_accuracy: float | None = Field(
        default=None, ge=0, le=100, description="percent, on the test set; None for models that do not classify"
    )
    test_size: int = Field(gt=0, description="rows (or characters, for sequence models) the figures were measured on")
    per_class_accuracy: dict[str, float] = Field(default_factory=dict)
    extra: dict[str, float] = Field(
        default_factory=dict,
        description="kind-specific figures, e.g. mse, cv_accuracy_mean, train_char_accuracy, w, b",
    )


class TrainingRecord(_Frozen):
    command: str
    config: dict[str, Any]
    device: str
    seconds: float
    epochs_run: int
    best_epoch: int


class ModelManifest(_Frozen):
    schema_version: Literal[1] = 1
    name: str
    version: Annotated[int, Field(ge=1)]
    task: Task
    architecture: str
    architecture_args: dict[str, Any]
    labels: list[str] = Field(
        min_length=1, description="output names in order: classes, or the predicted value of a regression"
    )
    preprocessing: Preprocessing
    metrics: Metrics
    training: TrainingRecord
    data_checksums: dict[str, str] = Field(description="file name -> sha256 of the data used")
    library_versions: dict[str, str]
    created_at: datetime
    parameters: int = Field(gt=0)
    files: dict[str, str] = Field(description="file name -> sha256, checked at load time")
    golden_names: list[str] | None = Field(
        default=None, description="raw golden inputs of text and sequence models (others live in golden file)"
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not MODEL_NAME_PATTERN.match(name):
            raise ValueError(f"model name {name!r} must match {MODEL_NAME_PATTERN.pattern}")
        return name

    @field_validator("task")
    @classmethod
    def _check_task(cls, task: str) -> str:
        if not TASK_PATTERN.match(task):
            raise ValueError(f"task {task!r} must match {TASK_PATTERN.pattern}")
        return task

    @model_validator(mode="after")
    def _check_labels(self) -> Self:
        # A regression names the value it predicts; every other task chooses among labels.
        if self.task != REGRESSION and len(self.labels) < 2:
            raise ValueError(f"a {self.task} model needs at least 2 labels; got {self.labels}")
        return self
