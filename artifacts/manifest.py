"""The manifest: a self-describing record of one trained model version."""

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Task = Literal["image-classification", "text-classification"]

# Names become folder names; keep them boring so nothing can escape the store.
MODEL_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

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


class Metrics(_Frozen):
    val_accuracy: float = Field(ge=0, le=100, description="percent, on the validation split")
    test_accuracy: float = Field(ge=0, le=100, description="percent, on the official test set")
    test_size: int = Field(gt=0)
    per_class_accuracy: dict[str, float]


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
    labels: list[str] = Field(min_length=2)
    preprocessing: Annotated[ImagePreprocessing | TextPreprocessing, Field(discriminator="kind")]
    metrics: Metrics
    training: TrainingRecord
    data_checksums: dict[str, str] = Field(description="file name -> sha256 of the data used")
    library_versions: dict[str, str]
    created_at: datetime
    parameters: int = Field(gt=0)
    files: dict[str, str] = Field(description="file name -> sha256, checked at load time")
    golden_names: list[str] | None = Field(
        default=None, description="raw golden inputs of text models (images live in golden file)"
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not MODEL_NAME_PATTERN.match(name):
            raise ValueError(f"model name {name!r} must match {MODEL_NAME_PATTERN.pattern}")
        return name
