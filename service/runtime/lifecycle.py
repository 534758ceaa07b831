"""How a model's versions come and go: load beside, verify, optimise, swap, drain, unload, roll back.

A new version is loaded next to the one serving (its own runner and batcher), checked (the
store's sha256 checks, the golden outputs, the labels of the version it replaces), optimised,
and only then made current, by replacing what ``ServedModel`` publishes for requests. Requests
that already hold the old version finish on it; once none does, its batcher drains and its
memory goes back to the system. Every transition is one structured log line and one count in
``tinyserve_model_transitions_total``. Only version folders of the configured store are loaded:
a version comes in as an integer, a name must match the manifest's name pattern.
"""

import contextlib
import ctypes
import gc
import logging
import threading
import time
import weakref
from dataclasses import dataclass, replace
from typing import Literal

import torch

from artifacts import ArtifactError
from artifacts.errors import ArtifactIntegrityError
from service import metrics
from service.runtime.registry import (
    GOLDEN_TOLERANCE,
    LOAD_ERRORS,
    BatchCounts,
    GoldenMismatchError,
    LoadedVersion,
    ModelRegistry,
    ModelStatus,
    ReadyModel,
    ServedModel,
)
from service.runtime.runner import ModelRunner
from service.runtime.traffic import parse_shadow, parse_split

logger = logging.getLogger("tinyserve.lifecycle")

Outcome = Literal["loaded", "promoted", "unchanged", "refused", "rolled_back", "unloaded"]
DRAIN_GRACE_S = 2.0  # past the request deadline, a request that still holds a version is a leak, not a wait


class LabelsChangedError(Exception):
    """A new version answers with other labels than the one serving: clients would misread its answers."""


class VersionRefusedError(Exception):
    """A version was not made current; the message says why."""

    def __init__(self, transition: "Transition") -> None:
        super().__init__(transition.detail)
        self.transition = transition


@dataclass(frozen=True)
class Transition:
    model: str
    from_version: int | None
    to_version: int | None
    reason: str  # what caused it: start, admin, sighup, poll, error_rate, ... or why a version was refused
    outcome: Outcome
    detail: str = ""


def record(transition: Transition) -> Transition:
    """One log line and one count per transition."""
    old, new = transition.from_version, transition.to_version
    metrics.MODEL_TRANSITIONS.labels(
        model=transition.model,
        **{"from": _label(old), "to": _label(new)},
        reason=transition.reason,
    ).inc()
    level = logging.WARNING if transition.outcome in ("refused", "rolled_back") else logging.INFO
    logger.log(
        level,
        "model %s %s: %s -> %s (%s)%s",
        transition.model,
        transition.outcome,
        f"v{old}" if old is not None else "nothing",
        f"v{new}" if new is not None else "nothing",
        transition.reason,
        f": {transition.detail}" if transition.detail else "",
        extra={
            "fields": {
                "event": "model_transition",
                "model": transition.model,
                "from_version": old,
                "to_version": new,
                "outcome": transition.outcome,
                "reason": transition.reason,
                "detail": transition.detail,
            }
        },
    )
    return transition


def _label(version: int | None) -> str:
    return "none" if version is None else str(version)


# ---- start-up ----


def load_configured(registry: ModelRegistry, served: ServedModel) -> None:
    """Load every configured version of ``served`` (TINYSERVE_MODELS, and the versions a traffic split or a
    shadow names); the current one is the highest of TINYSERVE_MODELS's. None loads: the model is failed."""
    settings = registry.settings
    served.split_weights = parse_split(settings.traffic).get(served.name)
    served.shadow_version = parse_shadow(settings.shadow).get(served.name)
    served.shadow_sample, served.sticky = settings.shadow_sample, settings.traffic_sticky
    try:
        served.versions = registry.store.versions(served.name)
    except ArtifactError as exc:
        return _fail(served, str(exc))
    extra = [*(served.split_weights or {}), *([served.shadow_version] if served.shadow_version else [])]
    errors: list[str] = []
    primary: list[int] = []
    for wanted in [*served.wanted, *extra]:
        version = wanted or (served.versions[-1] if served.versions else None)
        if version in served.loaded:
            primary += [version] if wanted in served.wanted else []
            continue
        started = time.perf_counter()
        try:
            loaded = load_version(registry, served, version)
        except LOAD_ERRORS as exc:
            errors.append(str(exc))
            logger.error("model %s v%s failed to load: %s", served.name, _label(version), exc)
            continue
        served.loaded = {**served.loaded, loaded.version: loaded}
        primary += [loaded.version] if wanted in served.wanted else []
        _log_loaded(registry, loaded, time.perf_counter() - started)
    if not served.loaded:
        return _fail(served, "; ".join(errors) or "no version to load")
    current = served.loaded[max(primary)] if primary else served.loaded[max(served.loaded)]
    served.current, served.error, served.status = current, None, ModelStatus.READY
    served.publish()
    record(Transition(served.name, None, current.version, "start", "promoted"))


def _fail(served: ServedModel, error: str) -> None:
    served.status, served.error = ModelStatus.FAILED, error
    logger.error("model %s failed to load: %s", served.name, error)


def _log_loaded(registry: ModelRegistry, loaded: LoadedVersion, elapsed: float) -> None:
    manifest = loaded.manifest
    accuracy = manifest.metrics.test_accuracy
    logger.info(
        "loaded %s v%d (%s) on %s: %d parameters%s, %.2f s",
        manifest.name,
        manifest.version,
        manifest.task,
        registry.device,
        manifest.parameters,
        f", test accuracy {accuracy:.2f}%" if accuracy is not None else "",
        elapsed,
    )


def load_version(registry: ModelRegistry, served: ServedModel, version: int | None) -> LoadedVersion:
    """Load one version from the store beside whatever serves, verify it, start its batcher."""
    artifact = registry.store.load(served.name, version)  # the sha256 checks
    manifest = artifact.manifest
    if manifest.name != served.name:
        raise ArtifactIntegrityError(f"{artifact.path}: its manifest names model {manifest.name!r}")
    reference = served.current.manifest if served.current else None
    if reference is not None and (list(manifest.labels), manifest.task) != (list(reference.labels), reference.task):
        raise LabelsChangedError(
            f"{artifact.path}: version {manifest.version} answers {manifest.task} with labels {manifest.labels}, "
            f"version {reference.version} {reference.task} with {reference.labels}: not a drop-in replacement"
        )
    runner = ModelRunner.for_artifact(artifact, registry.device, registry.settings)
    tolerance = GOLDEN_TOLERANCE[registry.device.type]
    error = runner.golden_error()  # also the warm-up
    if error > tolerance:
        raise GoldenMismatchError(
            f"{artifact.path}: golden check failed, max |p - p_trained| = {error:.2e} > {tolerance:g}"
        )
    counts = BatchCounts(runner.forward)
    batcher = registry.new_batcher(served.name, manifest.version, runner, counts)
    batcher.start()
    ready = ReadyModel(served.name, manifest.version, runner.task, batcher)
    metrics.MODEL_INFO.labels(name=served.name, version=str(manifest.version), device=str(registry.device)).set(1)
    return LoadedVersion(manifest, runner, batcher, counts, ready)


# ---- reload: a new version becomes current ----


def reload(registry: ModelRegistry, served: ServedModel, trigger: str, version: int | None = None) -> Transition:
    """Make ``version`` (default: the store's highest) current: load it beside the current one unless it is
    loaded already, verify and optimise it, swap, and retire the version it replaces. A version that fails
    a check raises ``VersionRefusedError``; the current version keeps serving either way."""
    with served.lock:
        current = served.current
        old = current.version if current else None
        try:
            served.versions = registry.store.versions(served.name)
        except ArtifactError as exc:
            refused = Transition(served.name, old, version, "store", "refused", str(exc))
            raise VersionRefusedError(record(refused)) from None
        target = version if version is not None else (served.versions[-1] if served.versions else None)
        if target is None or target not in served.versions:
            detail = f"version {_label(target)} is not in the store; versions there: {served.versions}"
            raise VersionRefusedError(record(Transition(served.name, old, target, "not_found", "refused", detail)))
        if target == old:
            return Transition(served.name, old, target, trigger, "unchanged", "already current")
        loaded = served.loaded.get(target)
        fresh = loaded is None
        if loaded is None:
            loaded = _load_or_refuse(registry, served, target, old, remember=True)
        registry.optimise(served, loaded)  # before the swap: a swapped-in version is as fast as the old one
        if (refusal := _shadow_refusal(registry, served, loaded)) is not None:
            if fresh:
                _unload(registry, served, loaded)
            served.refused[target] = refusal
            refused = Transition(served.name, old, target, "shadow_agreement", "refused", refusal)
            raise VersionRefusedError(record(refused))
        served.loaded = {**served.loaded, target: loaded}
        served.current, served.status, served.error = loaded, ModelStatus.READY, None
        served.publish()  # the swap: requests from here on reach the new version
        served.refused.pop(target, None)
        transition = record(Transition(served.name, old, target, trigger, "promoted"))
        if current is not None and current is not loaded:
            _after_promotion(registry, served, current, loaded)
        return transition


def _refusal_reason(exc: Exception) -> str:
    if isinstance(exc, GoldenMismatchError):
        return "golden_mismatch"
    if isinstance(exc, LabelsChangedError):
        return "labels_changed"
    if isinstance(exc, ArtifactError):
        return "integrity"
    return "load_error"


def _shadow_refusal(registry: ModelRegistry, served: ServedModel, loaded: LoadedVersion) -> str | None:
    """Why a version that was shadowing may not become current (agreement under the threshold), else None."""
    threshold = registry.settings.shadow_min_agreement
    current = served.current
    shadow = current.ready.shadow if current is not None else None
    if threshold is None or shadow is None or shadow.target is not loaded.ready:
        return None
    agreement = shadow.stats.agreement
    if shadow.stats.rows < registry.settings.shadow_min_rows or agreement is None or agreement >= threshold:
        return None
    return f"shadow top-1 agreement {agreement:.4f} over {shadow.stats.rows} rows is under {threshold:g}"


def _after_promotion(registry: ModelRegistry, served: ServedModel, old: LoadedVersion, new: LoadedVersion) -> None:
    """Keep the replaced version while a rollback may need it, or while a split or shadow names it; else retire it."""
    stale = served.previous  # kept for a rollback of an earlier promotion, whose watch has ended with this one
    if stale is not None and stale is not old and stale is not new:
        served.previous = None
        if stale.version not in (served.split_weights or {}) and stale.version != served.shadow_version:
            retire(registry, served, stale, "replaced")
    if registry.settings.rollback_error_rate is not None:
        served.previous = old
        watch = threading.Thread(
            target=watch_for_rollback,
            args=(registry, served, old, new, new.counts.batches, new.counts.failures),
            name=f"rollback-watch-{served.name}",
            daemon=True,
        )
        watch.start()
        return
    if old.version not in (served.split_weights or {}) and old.version != served.shadow_version:
        retire(registry, served, old, "replaced")


def _load_or_refuse(
    registry: ModelRegistry,
    served: ServedModel,
    version: int,
    current: int | None,
    *,
    remember: bool = False,
    in_store_only: bool = False,
) -> LoadedVersion:
    """Load and verify ``version``, or record its refusal and raise ``VersionRefusedError``;
    ``remember``: keep the refusal in ``served.refused`` (polling then skips the version)."""
    try:
        if in_store_only and version not in registry.store.versions(served.name):
            raise ArtifactError(f"version {version} is not in the store")
        return load_version(registry, served, version)
    except LOAD_ERRORS + (LabelsChangedError,) as exc:
        if remember:
            served.refused[version] = str(exc)
        refused = Transition(served.name, current, version, _refusal_reason(exc), "refused", str(exc))
        raise VersionRefusedError(record(refused)) from None


# ---- traffic: split and shadow ----


def set_traffic(
    registry: ModelRegistry,
    served: ServedModel,
    weights: dict[int, int] | None,
    shadow: int | None,
    sticky: bool,
) -> None:
    """Split the requests that name no version by ``weights`` (None: all to the current version) and copy
    them to ``shadow`` (None: no shadow); versions not loaded yet are loaded, verified and optimised first.
    A version that fails a check raises ``VersionRefusedError`` and nothing changes."""
    with served.lock:
        current = served.current.version if served.current else None
        for version in sorted({*(weights or {}), *([shadow] if shadow is not None else [])}):
            if version in served.loaded:
                continue
            loaded = _load_or_refuse(registry, served, version, current, in_store_only=True)
            registry.optimise(served, loaded)
            served.loaded = {**served.loaded, version: loaded}
            record(Transition(served.name, current, version, "traffic", "loaded"))
        served.split_weights, served.shadow_version, served.sticky = weights, shadow, sticky
        served.publish()
        logger.info(
            "model %s traffic: split %s, shadow %s, sticky %s",
            served.name,
            weights or "none",
            _label(shadow),
            sticky,
            extra={"fields": {"event": "model_traffic", "model": served.name, "shadow": shadow, "sticky": sticky}},
        )


# ---- rollback ----


def watch_for_rollback(
    registry: ModelRegistry, served: ServedModel, old: LoadedVersion, new: LoadedVersion, batches: int, failures: int
) -> None:
    """For ``rollback_window_s`` after ``new`` became current, roll back to ``old`` if the share of ``new``'s
    forward batches that fail exceeds ``rollback_error_rate``; afterwards ``old`` is retired."""
    settings = registry.settings
    rate_limit = settings.rollback_error_rate
    assert rate_limit is not None
    deadline = time.monotonic() + settings.rollback_window_s
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if served.current is not new:
            return  # another transition took over; it decides about ``old``
        ran, failed = new.counts.batches - batches, new.counts.failures - failures
        if ran >= settings.rollback_min_batches and failed / ran > rate_limit:
            with served.lock:
                if served.current is not new:
                    return
                served.current, served.previous = old, None
                served.publish()
                detail = f"{failed} of {ran} batches failed (limit {rate_limit:g})"
                record(Transition(served.name, new.version, old.version, "error_rate", "rolled_back", detail))
                served.refused[new.version] = detail
                retire(registry, served, new, "rolled_back")
            return
    with served.lock:
        if served.previous is old:
            served.previous = None
            if old.version not in (served.split_weights or {}) and old.version != served.shadow_version:
                retire(registry, served, old, "replaced")


# ---- unload ----


def unload(registry: ModelRegistry, served: ServedModel, version: int, trigger: str) -> Transition:
    """Unload a version that is not current (or current while another is loaded, which then becomes current)."""
    with served.lock:
        loaded = served.loaded.get(version)
        if loaded is None:
            raise VersionRefusedError(
                Transition(served.name, version, None, "not_loaded", "refused", f"version {version} is not loaded")
            )
        if loaded is served.current:
            others = [v for v in served.loaded if v != version]
            if not others:
                detail = f"version {version} is the only one loaded; load another before unloading it"
                raise VersionRefusedError(Transition(served.name, version, None, "last_version", "refused", detail))
            served.current = served.loaded[max(others)]
            record(Transition(served.name, version, served.current.version, trigger, "promoted"))
        if served.previous is loaded:
            served.previous = None
        retire(registry, served, loaded, "unload")
        return Transition(served.name, version, served.version, trigger, "unloaded")


def retire(registry: ModelRegistry, served: ServedModel, loaded: LoadedVersion, reason: str) -> None:
    """Take ``loaded`` out of what requests see, let the requests that hold it finish, then free it."""
    served.loaded = {v: lv for v, lv in served.loaded.items() if lv is not loaded}
    served.publish()
    _unload(registry, served, loaded)
    record(Transition(served.name, loaded.version, served.version, reason, "unloaded"))


def _unload(registry: ModelRegistry, served: ServedModel, loaded: LoadedVersion) -> None:
    version, batcher = loaded.version, loaded.batcher
    # From here only requests (and shadow comparisons) that looked the version up before it left the
    # published maps hold its ReadyModel: when the last of them finishes, nothing can reach its batcher.
    held = weakref.ref(loaded.ready)
    loaded.ready = replace(loaded.ready, shadow=None)
    deadline = time.monotonic() + registry.batching.timeout_s + DRAIN_GRACE_S
    next_collect = time.monotonic() + 0.5
    while held() is not None and time.monotonic() < deadline:
        time.sleep(0.01)
        if time.monotonic() > next_collect:
            gc.collect()
            next_collect = time.monotonic() + 0.5
    if held() is not None:
        logger.warning("model %s v%d still held after its drain deadline; stopping it anyway", served.name, version)
    batcher.stop()  # finishes what is queued
    metrics.MODEL_INFO.labels(name=served.name, version=str(version), device=str(registry.device)).set(0)
    metrics.MODEL_VERSION_STATE.labels(model=served.name, version=str(version)).set(0)
    metrics.TRAFFIC_SHARE.labels(model=served.name, version=str(version)).set(0)
    del batcher
    release_memory(registry.device)


def release_memory(device: torch.device) -> None:
    """Hand freed tensors' memory back: collect (frozen objects too: the app freezes its start-up heap),
    then ask glibc and CUDA's caching allocator to return what they keep."""
    frozen = gc.get_freeze_count() > 0
    gc.unfreeze()
    gc.collect()
    if frozen:
        gc.freeze()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: its allocator returns memory its own way
        ctypes.CDLL("libc.so.6").malloc_trim(0)
