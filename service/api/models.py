"""Model listing: what is served, which versions exist, and how good each is."""

from service.api.deps import RegistryDep, v1_router
from service.api.schemas import ErrorResponse, ModelInfo, ModelList
from service.runtime.registry import ModelRegistry, ServedModel

router = v1_router("models")


def model_info(served: ServedModel, registry: ModelRegistry) -> ModelInfo:
    manifest, runner, task = served.manifest, served.runner, served.task
    return ModelInfo(
        name=served.name,
        version=served.version,
        versions=served.versions,
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
