"""Response models of /v1 model listing, health and errors; each task kind has its request and result schemas."""

from typing import Any, Literal

from pydantic import BaseModel, Field

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
    request_schema: dict[str, Any] | None = Field(
        None, description="The JSON schema of POST /v1/models/{name}/predict's body for this model's task."
    )
    request_example: dict[str, Any] | None = Field(None, description="A worked request body for this model.")


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
