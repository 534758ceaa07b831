"""Model listing: what is served, which versions exist, and how good each is."""

from typing import Literal

from service.api.deps import RegistryDep, v1_router
from service.api.schemas import ErrorResponse, ModelInfo, ModelList, VersionInfo
from service.runtime.registry import LoadedVersion, ModelRegistry, ServedModel

Role = Literal["current", "canary", "shadow", "previous", "loaded"]

router = v1_router("models")


def version_info(served: ServedModel, loaded: LoadedVersion) -> VersionInfo:
    current, split = served.current, served.split
    shadow = current.ready.shadow if current is not None else None
    shadowing = shadow is not None and shadow.target is loaded.ready
    role: Role = "loaded"
    if loaded is current:
        role = "current"
    elif split is not None and loaded.version in split.shares:
        role = "canary"
    elif shadowing:
        role = "shadow"
    elif loaded is served.previous:
        role = "previous"
    share = split.shares.get(loaded.version, 0.0) if split is not None else float(loaded is current)
    stats = shadow.stats if shadow is not None and shadowing else None
    return VersionInfo(
        version=loaded.version,
        role=role,
        status="ready",
        graph=loaded.runner.graph,
        traffic_share=share,
        metrics=loaded.manifest.metrics.model_dump(),
        batches=loaded.counts.batches,
        failed_batches=loaded.counts.failures,
        shadow_agreement=stats.agreement if stats else None,
        shadow_mean_abs_difference=stats.mean_abs_diff if stats else None,
        shadow_rows=stats.rows if stats else None,
    )


def model_info(served: ServedModel, registry: ModelRegistry) -> ModelInfo:
    manifest, runner, task = served.manifest, served.runner, served.task
    return ModelInfo(
        name=served.name,
        version=served.version,
        versions=served.versions,
        loaded_versions=[version_info(served, lv) for _, lv in sorted(dict(served.loaded).items())],
        task=manifest.task if manifest else None,
        architecture=manifest.architecture if manifest else None,
        labels=list(manifest.labels) if manifest else [],
        metrics=manifest.metrics.model_dump() if manifest else {},
        device=str(registry.device),
        parameters=manifest.parameters if manifest else None,
        status=served.status.value,
        graph=runner.graph if runner else None,
        onednn_from_batch=runner.takes_over("onednn") if runner else None,
        stepwise_until_batch=runner.takes_over("stepwise") if runner else None,
        error=served.error,
        request_schema=task.request_schema() if task else None,
        request_example=task.request_example() if task else None,
    )


@router.get("/models", response_model=ModelList, summary="Every configured model")
async def list_models(registry: RegistryDep) -> ModelList:
    return ModelList(models=[model_info(s, registry) for s in registry.models.values()])


@router.get(
    "/models/{name}",
    response_model=ModelInfo,
    summary="One model",
    responses={404: {"model": ErrorResponse, "description": "unknown model"}},
)
async def get_model(name: str, registry: RegistryDep) -> ModelInfo:
    return model_info(registry.get(name), registry)
