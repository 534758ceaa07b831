"""Request and response models of the /v1 API, health and errors (the public contract)."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# fail_fast: a list stops at its first bad item, so an 8 MB body of bad pixels is one error,
# not two million (listing those held the event loop for ~40 s).
Pixel = Annotated[int, Field(ge=0, le=255, strict=True)]
PixelRow = Annotated[list[Pixel], Field(min_length=28, max_length=28, fail_fast=True)]
PixelGrid = Annotated[list[PixelRow], Field(min_length=28, max_length=28, fail_fast=True)]
DIGITS_MAX_TOP_K = 10  # one entry per digit class


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DigitImage(_Request):
    """Exactly one of ``pixels`` or ``image_base64``."""

    pixels: PixelGrid | None = Field(
        None,
        description="28 rows of 28 integers 0..255, white digit on black (MNIST convention), used as is.",
    )
    image_base64: str | None = Field(
        None,
        description="A PNG, JPEG, BMP, GIF or WebP file, base64-encoded; any size, colour or grey, "
        "dark-on-light or light-on-dark. It goes through the MNIST procedure first.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> "DigitImage":
        if (self.pixels is None) == (self.image_base64 is None):
            raise ValueError("give exactly one of 'pixels' or 'image_base64'")
        return self


class DigitsPredictRequest(_Request):
    images: list[DigitImage] = Field(min_length=1, fail_fast=True, description="At most TINYSERVE_MAX_IMAGES (64).")
    top_k: int = Field(3, ge=1, le=DIGITS_MAX_TOP_K, strict=True)
    model: str | None = Field(None, description="A digits model; default: configured or most accurate.")


class NamesPredictRequest(_Request):
    names: list[Annotated[str, Field(max_length=1024)]] = Field(
        min_length=1, fail_fast=True, description="Surnames in any script; at most TINYSERVE_MAX_NAMES (256)."
    )
    top_k: int = Field(3, ge=1, le=18, strict=True, description="1..number of countries (18).")
    model: str | None = Field(None, description="A names model; default: configured or most accurate.")


class DigitScore(BaseModel):
    digit: int
    probability: float


class DigitPrediction(DigitScore):
    top_k: list[DigitScore]


class DigitsPredictResponse(BaseModel):
    model: str
    version: int
    predictions: list[DigitPrediction]


class CountryScore(BaseModel):
    country: str
    probability: float


class NamePrediction(CountryScore):
    name: str
    normalized: str
    top_k: list[CountryScore]


class NamesPredictResponse(BaseModel):
    model: str
    version: int
    predictions: list[NamePrediction]


ModelStatusName = Literal["ready", "loading", "failed"]


class ModelInfo(BaseModel):
    name: str
    version: int | None
    versions: list[int]
    task: str | None
    architecture: str | None
    labels: list[str]
    metrics: dict[str, object]
    device: str
    parameters: int | None
    status: ModelStatusName
    graph: Literal["eager", "traced"] | None = Field(
        None, description="The graph that runs: traced (one frozen TorchScript call) once verified after start-up."
    )
    onednn_from_batch: int | None = Field(
        None,
        description="On CPU, batches of at least this many rows run a channels-last graph on oneDNN's kernels, "
        "smaller ones the plain graph on PyTorch's own: timed per model after start-up. null: never.",
    )
    stepwise_until_batch: int | None = Field(
        None,
        description="On CPU, batches of names of one length up to this many run a stepwise GRU graph (both "
        "directions in one matmul per step), larger ones PyTorch's GRU: timed after start-up. null: never.",
    )
    error: str | None = None


class ModelList(BaseModel):
    models: list[ModelInfo]


class LiveResponse(BaseModel):
    status: Literal["alive"] = "alive"


class ReadyResponse(BaseModel):
    status: Literal["ready", "not_ready"]
    models: dict[str, ModelStatusName]
    optimised: bool = Field(
        description="Every ready model runs its fastest verified graph: tracing and kernel timing, which run in "
        "the background after readiness, have finished. Start load tests after this."
    )


class ErrorBody(BaseModel):
    type: str
    message: str
    request_id: str | None


class ErrorResponse(BaseModel):
    error: ErrorBody
