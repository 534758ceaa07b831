"""The model registry: which models are configured, which of their versions are loaded, and which
one answers a request.

It is the one place that decides "unknown model or version" (404) versus "not ready" (503). A
model may have several versions loaded at once (each with its own runner and batcher); one of
them is *current*. What a request needs is published as plain attributes (``ServedModel.serving``,
``ServedModel.by_version``) that a transition replaces whole, so a lookup is an attribute read or
a dict lookup and a swap is one assignment. How versions come and go is service/runtime/lifecycle.py.
"""

import enum
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from artifacts import ArtifactError, ModelManifest, ModelStore
from artifacts.manifest import MODEL_NAME_PATTERN
from artifacts.store import VERSION_PATTERN
from service import metrics
from service.runtime import timing_cache
from service.runtime.batcher import DynamicBatcher
from service.runtime.errors import ModelNotFoundError, ModelNotReadyError, UnprocessableInputError
from service.runtime.runner import ModelRunner
from service.runtime.traffic import Shadow, TrafficSplit
from service.settings import Settings
from service.tasks import Task

logger = logging.getLogger("tinyserve.registry")

RequestKey = Callable[[], str | None]  # the request's id, asked for only by a sticky traffic split

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


@dataclass(eq=False)
class ReadyModel:
    """What serving a request needs: the model's name and version, its task and its batcher, and
    (only when configured) the shadow that gets a copy of its inputs. One object per loaded version,
    changed in place: a request holds it from lookup to answer, which is how a drain knows that no
    request can still reach an unloaded version (service/runtime/lifecycle.py)."""

    name: str
    version: int
    task: Task[Any, Any]
    batcher: DynamicBatcher
    shadow: Shadow | None = None


class BatchCounts:
    """A version's forward passes and failures, counted on the batch worker: what rollback judges."""

    def __init__(self, forward: Callable[[Sequence[Any]], np.ndarray]) -> None:
        self._forward = forward
        self.batches = 0
        self.failures = 0

    def __call__(self, payloads: Sequence[Any]) -> np.ndarray:
        self.batches += 1
        try:
            return self._forward(payloads)
        except Exception:
            self.failures += 1
            raise


@dataclass(eq=False)
class LoadedVersion:
    """One version in memory: verified, with its own runner and batcher."""

    manifest: ModelManifest
    runner: ModelRunner
    batcher: DynamicBatcher
    counts: BatchCounts
    ready: ReadyModel
    traced: bool = False  # its graphs traced and verified, alternatives on fixed takeover points
    timed: bool = False  # the takeover points timed on this machine (or taken from the timing cache)

    @property
    def version(self) -> int:
        return self.manifest.version

    @property
    def optimised(self) -> bool:
        return self.traced and self.timed


@dataclass
class ServedModel:
    name: str
    pinned_version: int | None
    versions: list[int] = field(default_factory=list)  # in the store
    status: ModelStatus = ModelStatus.LOADING
    error: str | None = None
    wanted: list[int | None] = field(default_factory=list)  # configured versions to load; None = the highest
    loaded: dict[int, LoadedVersion] = field(default_factory=dict)
    current: LoadedVersion | None = None
    previous: LoadedVersion | None = None  # kept while a promotion is watched for rollback
    # Published for the request path; replaced whole by ``publish``.
    serving: ReadyModel | None = None
    by_version: dict[int, ReadyModel] = field(default_factory=dict)
    split: TrafficSplit | None = None
    split_weights: dict[int, int] | None = None  # configured; applied whenever its versions are loaded
    shadow_version: int | None = None  # configured
    shadow_sample: float = 1.0
    sticky: bool = False
    refused: dict[int, str] = field(default_factory=dict)  # version -> why, so polling does not retry it
    lock: threading.RLock = field(default_factory=threading.RLock)  # one transition at a time

    @property
    def version(self) -> int | None:
        return self.current.version if self.current else self.pinned_version

    @property
    def manifest(self) -> ModelManifest | None:
        return self.current.manifest if self.current else None

    @property
    def task(self) -> Task[Any, Any] | None:
        return self.current.runner.task if self.current else None

    @property
    def runner(self) -> ModelRunner | None:
        return self.current.runner if self.current else None

    @property
    def batcher(self) -> DynamicBatcher | None:
        return self.current.batcher if self.current else None

    @batcher.setter
    def batcher(self, batcher: DynamicBatcher) -> None:
        """Serve the current version through another batcher (what fault-injection tests do)."""
        current = self.current
        if current is None:
            raise ModelNotReadyError(f"model {self.name!r} has no current version")
        current.batcher = current.ready.batcher = batcher

    def publish(self) -> None:
        """Make what requests read agree with ``current``, ``loaded`` and the configured split and shadow."""
        loaded, current = dict(self.loaded), self.current
        if current is not None:
            current.ready.shadow = self._shadow_of(current, loaded)
        for lv in loaded.values():
            if lv is not current:
                lv.ready.shadow = None
        weights = self.split_weights
        if weights and all(version in loaded for version in weights):
            choices = [(loaded[version].ready, weight) for version, weight in weights.items()]
            self.split = TrafficSplit(choices, sticky=self.sticky)
        else:
            self.split = None
        self.by_version = {version: lv.ready for version, lv in loaded.items()}
        self.serving = current.ready if current is not None else None
        for version in loaded:
            share = self.split.shares.get(version, 0.0) if self.split else float(current is loaded[version])
            metrics.TRAFFIC_SHARE.labels(model=self.name, version=str(version)).set(share)
            metrics.MODEL_VERSION_STATE.labels(model=self.name, version=str(version)).set(
                1 if loaded[version] is current else 0
            )

    def _shadow_of(self, current: LoadedVersion, loaded: dict[int, LoadedVersion]) -> Shadow | None:
        target = loaded.get(self.shadow_version) if self.shadow_version is not None else None
        if target is None or target is current:
            return None
        old = current.ready.shadow
        if old is not None and old.target is target.ready:
            return old
        return Shadow(self.name, current.version, target.ready, self.shadow_sample)


class ModelRegistry:
    def __init__(
        self,
        store: ModelStore,
        selection: dict[str, int | None] | dict[str, list[int | None]],
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
        wanted: dict[str, list[int | None]] = {
            name: list(versions) if isinstance(versions, list) else [versions]
            for name, versions in (selection or dict.fromkeys(store.model_names())).items()
        }
        self.models = {
            name: ServedModel(name, versions[0] if len(versions) == 1 else None, wanted=versions)
            for name, versions in wanted.items()
        }
        self.loaded = threading.Event()  # every model is ready or failed
        self._defaults: dict[str, str] = {}  # default_model's answers once loading is over
        self.optimised = threading.Event()  # and the ready ones run their fastest verified graph
        folder = settings.timing_cache_dir
        self.timing_cache = timing_cache.TimingCache(folder) if folder is not None else None

    # ---- start-up and shutdown ----

    def load_all(self, announce: bool = True) -> None:
        """Load, verify and warm up every configured version; a model none of whose versions loads is failed.
        ``announce``: set ``loaded`` (ready) at the end; else the caller does, once it has optimised."""
        from service.runtime import lifecycle  # it builds on this module's types

        for served in self.models.values():
            lifecycle.load_configured(self, served)
        if announce:
            self.loaded.set()

    def optimise_all(self, time_kernels: bool = True) -> None:
        """Swap each loaded version's graph for a faster verified one. ``time_kernels=False``: trace and
        verify only, with fixed takeover points; a later call times them (``optimised`` is set then)."""
        for served in self.models.values():
            for loaded in list(served.loaded.values()):
                self.optimise(served, loaded, time_kernels)
        if time_kernels:
            self.optimised.set()

    def optimise(self, served: ServedModel, loaded: LoadedVersion, time_kernels: bool = True) -> None:
        """Trace and verify the version's graphs, then (with autotune) time their kernels; timing
        decisions come from the timing cache where it has them."""
        if loaded.optimised:
            return
        started = time.perf_counter()
        autotune, cache = self.settings.autotune, self.timing_cache
        reused = False
        if not loaded.traced:
            cached = cache.get(loaded.manifest, self.device) if cache is not None and autotune else None
            timing_now = autotune and time_kernels and cached is None
            loaded.runner.optimise(GOLDEN_TOLERANCE[self.device.type], timing_now)
            reused = cached is not None and timing_cache.apply(loaded.runner, cached)
            loaded.traced, loaded.timed = True, reused or not autotune or timing_now
        if not loaded.timed:
            if not time_kernels:
                return
            loaded.runner.time_kernels()
            loaded.timed = True
        if cache is not None and autotune and not reused:
            cache.put(loaded.manifest, self.device, timing_cache.decisions_of(loaded.runner))
        elapsed = time.perf_counter() - started
        source = ", timing from the cache" if reused else ""
        logger.info("%s v%d runs %s (%.2f s%s)", served.name, loaded.version, loaded.runner.describe(), elapsed, source)

    def new_batcher(self, name: str, version: int, runner: ModelRunner, counts: BatchCounts) -> DynamicBatcher:
        return DynamicBatcher(
            name,
            counts,
            max_batch_size=self.batching.max_batch_size,
            max_batch_delay_s=self.batching.max_batch_delay_s,
            max_queue_size=self.batching.max_queue_size,
            timeout_s=self.batching.timeout_s,
            run_inline_when=self.run_inline_when,
            version=version,
            device=str(self.device),
            graph=lambda: runner.graph,
        )

    def close(self) -> None:
        for served in self.models.values():
            for loaded in list(served.loaded.values()):
                loaded.batcher.stop()

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

    def lookup(self, spec: str) -> tuple[ServedModel, int | None]:
        """``"digits-resnet"`` or ``"digits-resnet:2"``: the model, and the version asked for (None: any)."""
        name, colon, version = spec.partition(":")
        served = self.get(name)
        return served, (parse_version(served, version) if colon else None)

    def ready_model(self, name: str, kind: str | None = None, key: RequestKey | None = None) -> ReadyModel:
        """The model (``name`` may say ``:version``), if it is ready (else 503) and, where ``kind`` is
        given, of that task kind (else 422); ``key`` keeps a sticky split's choice."""
        served, version = self.lookup(name)
        return as_ready(served, kind, version, key)

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


def parse_version(served: ServedModel, version: str) -> int:
    """A version named by a client: ASCII digits without a leading zero, else 404 (never a path)."""
    if not (len(version) <= 9 and VERSION_PATTERN.match(version)):
        raise ModelNotFoundError(f"model {served.name!r} has no version {version[:32]!r}; versions are numbers")
    return int(version)


def valid_name(name: str) -> bool:
    return MODEL_NAME_PATTERN.match(name) is not None


def as_ready(
    served: ServedModel, kind: str | None = None, version: int | None = None, key: RequestKey | None = None
) -> ReadyModel:
    """``served`` (its ``version``, else its split's pick, else its current version) if it is ready
    (else 503) and, where ``kind`` is given, of that task kind (else 422)."""
    if version is not None:
        model = served.by_version.get(version)
        if model is None:
            if served.status is ModelStatus.LOADING:
                raise ModelNotReadyError(f"model {served.name!r} is loading")
            raise version_not_loaded(served, version)
    elif served.split is not None:
        model = served.split.pick(key)
    else:
        ready = served.serving
        if ready is None:
            detail = f": {served.error}" if served.error else ""
            raise ModelNotReadyError(f"model {served.name!r} is {served.status.value}{detail}")
        model = ready
    if kind is not None and model.task.kind != kind:
        raise UnprocessableInputError(
            f"model {served.name!r} is a {model.task.kind} model; this endpoint needs a {kind} model"
        )
    return model


def version_not_loaded(served: ServedModel, version: int) -> ModelNotFoundError:
    loaded = sorted(served.by_version)
    serves = f"version{'s' if len(loaded) > 1 else ''} {', '.join(map(str, loaded))}" if loaded else "no version"
    return ModelNotFoundError(
        f"version {version} of model {served.name!r} is not loaded; this server serves {serves} "
        f"(serve it with TINYSERVE_MODELS={served.name}:{version})"
    )


class GoldenMismatchError(Exception):
    """The loaded model does not reproduce the outputs recorded at training time."""


LOAD_ERRORS = (ArtifactError, GoldenMismatchError, TypeError, ValueError)
