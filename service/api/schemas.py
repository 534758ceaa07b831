"""Response models of /v1 model listing, health and errors; each task kind has its request and result schemas."""

from typing import Any, Literal

from pydantic import BaseModel, Field

ModelStatusName = Literal["ready", "loading", "failed"]


class VersionInfo(BaseModel):
    """One loaded version of a model."""

    version: int
    role: Literal["current", "canary", "shadow", "previous", "loaded"] = Field(
        description="current: answers requests that name no version; canary: shares them by weight "
        "(TINYSERVE_TRAFFIC); shadow: gets a copy of them (TINYSERVE_SHADOW); previous: kept for a rollback; "
        "loaded: answers only requests that name it (model 'name:version' or /versions/{version}/)."
    )
    status: ModelStatusName
    graph: Literal["eager", "traced"]
    traffic_share: float = Field(description="Share of the requests that name no version which this version answers.")
    metrics: dict[str, object]
    batches: int = Field(description="Forward passes run since it loaded.")
    failed_batches: int = Field(description="Of which failed (what an automatic rollback judges).")
    shadow_agreement: float | None = Field(
        None, description="As the shadow: share of compared rows whose top-1 answer equals the current version's."
    )
    shadow_mean_abs_difference: float | None = None
    shadow_rows: int | None = None


class ModelInfo(BaseModel):
    name: str
    version: int | None = Field(description="The current version: what a request that names no version gets.")
    versions: list[int] = Field(description="The versions in the model store.")
    loaded_versions: list[VersionInfo] = Field(
        default_factory=list, description="Every version in memory, with its role and share of traffic."
    )
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
