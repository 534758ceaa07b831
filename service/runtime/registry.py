"""The model registry: which models are configured, their versions, and whether each is ready.

It is the one place that decides "unknown model" (404) versus "not ready" (503).
"""

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from artifacts import ArtifactError, ModelManifest, ModelStore
from service import metrics
from service.runtime.batcher import DynamicBatcher
from service.runtime.errors import ModelNotFoundError, ModelNotReadyError, UnprocessableInputError
from service.runtime.runner import ModelRunner
from service.settings import Settings
from service.tasks import Task

logger = logging.getLogger("tinyserve.registry")

GOLDEN_TOLERANCE = {"cpu": 1e-4, "cuda": 2e-3}


class ModelStatus(enum.StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class BatchingConfig:
    max_batch_size: int
    max_batch_delay_s: float
    max_queue_size: int
    timeout_s: float


@dataclass(frozen=True)
class ReadyModel:
    """What serving a request needs: the model's name and version, its task and its batcher."""

    name: str
    version: int
    task: Task[Any, Any]
    batcher: DynamicBatcher


@dataclass
class ServedModel:
    name: str
    pinned_version: int | None
    versions: list[int] = field(default_factory=list)
    status: ModelStatus = ModelStatus.LOADING
    error: str | None = None
    manifest: ModelManifest | None = None
    task: Task[Any, Any] | None = None
    runner: ModelRunner | None = None
    batcher: DynamicBatcher | None = None

    @property
    def version(self) -> int | None:
        return self.manifest.version if self.manifest else self.pinned_version


class ModelRegistry:
    def __init__(
        self,
        store: ModelStore,
        selection: dict[str, int | None],
        device: torch.device,
        batching: BatchingConfig,
        settings: Settings,
        run_inline_when: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.device = device
        self.batching = batching
        self.settings = settings
        self.run_inline_when = run_inline_when
        names = selection or dict.fromkeys(store.model_names())
        self.models = {name: ServedModel(name, version) for name, version in names.items()}
        self.loaded = threading.Event()  # every model is ready or failed
        self._defaults: dict[str, str] = {}  # default_model's answers once loading is over
        self.optimised = threading.Event()  # and the ready ones run their fastest verified graph

    # ---- start-up and shutdown ----

    def load_all(self) -> None:
        """Load, verify and warm up every configured model; a broken one is marked failed."""
        for served in self.models.values():
            started = time.perf_counter()
            try:
                self._load(served)
            except (ArtifactError, GoldenMismatchError, TypeError, ValueError) as exc:
                served.status, served.error = ModelStatus.FAILED, str(exc)
                logger.error("model %s failed to load: %s", served.name, exc)
                continue
            manifest = served.manifest
            assert manifest is not None
            accuracy = manifest.metrics.test_accuracy
            logger.info(
                "loaded %s v%d (%s) on %s: %d parameters%s, %.2f s",
                served.name,
                manifest.version,
                manifest.task,
                self.device,
                manifest.parameters,
                f", test accuracy {accuracy:.2f}%" if accuracy is not None else "",
                time.perf_counter() - started,
            )
        self.loaded.set()

    def optimise_all(self) -> None:
        """Swap each ready model's graph for a faster verified one; runs once the server is ready."""
        for served in self.models.values():
            if served.runner is not None:
                started = time.perf_counter()
                served.runner.optimise(GOLDEN_TOLERANCE[self.device.type], self.settings.autotune)
                elapsed = time.perf_counter() - started
                logger.info("%s runs %s (%.2f s)", served.name, served.runner.describe(), elapsed)
        self.optimised.set()

    def _load(self, served: ServedModel) -> None:
        served.versions = self.store.versions(served.name)
        artifact = self.store.load(served.name, served.pinned_version)
        runner = ModelRunner.for_artifact(artifact, self.device, self.settings)
        tolerance = GOLDEN_TOLERANCE[self.device.type]
        error = runner.golden_error()  # also the warm-up
        if error > tolerance:
            raise GoldenMismatchError(
                f"{artifact.path}: golden check failed, max |p - p_trained| = {error:.2e} > {tolerance:g}"
            )
        batcher = DynamicBatcher(
            served.name,
            runner.forward,
            max_batch_size=self.batching.max_batch_size,
            max_batch_delay_s=self.batching.max_batch_delay_s,
            max_queue_size=self.batching.max_queue_size,
            timeout_s=self.batching.timeout_s,
            run_inline_when=self.run_inline_when,
            version=artifact.manifest.version,
            device=str(self.device),
            graph=lambda: runner.graph,
        )
        batcher.start()
        served.manifest, served.task, served.runner, served.batcher = artifact.manifest, runner.task, runner, batcher
        served.status = ModelStatus.READY
        metrics.MODEL_INFO.labels(
            name=served.name, version=str(artifact.manifest.version), device=str(self.device)
        ).set(1)

    def close(self) -> None:
        for served in self.models.values():
            if served.batcher is not None:
                served.batcher.stop()

    # ---- lookups ----

    @property
    def ready(self) -> bool:
        return all(served.status is ModelStatus.READY for served in self.models.values())

    def get(self, name: str) -> ServedModel:
        served = self.models.get(name)
        if served is None:
            known = ", ".join(sorted(self.models)) or "none"
            raise ModelNotFoundError(f"model {name!r} is not served here; served models: {known}")
        return served

    def ready_model(self, name: str, kind: str | None = None) -> ReadyModel:
        """The model, if it is ready (else 503) and, where ``kind`` is given, of that task kind (else 422)."""
        return as_ready(self.get(name), kind)

    def default_model(self, task: str, preferred: str | None) -> str:
        """The configured default for a task, else its most accurate ready model."""
        if preferred:
            return preferred
        if task in self._defaults:
            return self._defaults[task]
        candidates = [s for s in self.models.values() if s.manifest is not None and s.manifest.task == task]
        if not candidates:
            raise ModelNotReadyError(f"no {task} model is ready")
        best = max(candidates, key=lambda s: (s.manifest.metrics.test_accuracy or 0.0) if s.manifest else 0.0)
        if self.loaded.is_set():  # final once every model has loaded or failed
            self._defaults[task] = best.name
        return best.name


def as_ready(served: ServedModel, kind: str | None = None) -> ReadyModel:
    """``served`` if it is ready (else 503) and, where ``kind`` is given, of that task kind (else 422)."""
    task, batcher, manifest = served.task, served.batcher, served.manifest
    if served.status is not ModelStatus.READY or task is None or batcher is None or manifest is None:
        detail = f": {served.error}" if served.error else ""
        raise ModelNotReadyError(f"model {served.name!r} is {served.status.value}{detail}")
    if kind is not None and task.kind != kind:
        raise UnprocessableInputError(
            f"model {served.name!r} is a {task.kind} model; this endpoint needs a {kind} model"
        )
    return ReadyModel(served.name, manifest.version, task, batcher)


class GoldenMismatchError(Exception):
    """The loaded model does not reproduce the outputs recorded at training time."""
