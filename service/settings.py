"""All configuration, from ``TINYSERVE_*`` environment variables (and an optional ``.env``)."""

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.affinity import CpuAffinity

_DEVICE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")
_MODEL_SPEC = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}(:[1-9]\d*)?$")


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TINYSERVE_", env_file=".env", extra="ignore")

    model_store: Path = Field(Path("models_store"), description="Root of <model>/<version>/ folders.")
    models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated models to serve, each NAME or NAME:VERSION; empty = all, highest version.",
    )
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N (auto = CUDA when available).")
    host: str = Field("127.0.0.1", description="Bind address (0.0.0.0: every interface, as in a container).")
    port: int = Field(8000, ge=0, le=65535, description="TCP port; 0 = any free one (the log says which).")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes.")
    torch_threads: int = Field(1, ge=1, le=256, description="torch intra-op threads per worker.")
    cpu_affinity: CpuAffinity = Field(
        "auto",
        description="Pin each worker to torch_threads CPUs of its own: auto = when workers x torch_threads "
        "equals the CPUs available, on = when they suffice, off = never. One worker is never pinned.",
    )
    default_digits_model: str | None = Field(None, description="Default for /v1/digits; else the most accurate.")
    default_names_model: str | None = Field(None, description="Default for /v1/names; else the most accurate.")

    autotune: bool = Field(
        True,
        description="Time the alternative graphs (oneDNN kernels, the stepwise GRU) per model after start-up and "
        "use each where it is faster; false: a fixed, reproducible choice without timing.",
    )

    max_batch_size: int = Field(64, ge=1, le=4096, description="Most items run in one forward pass.")
    # 0: a busy server's batches form while the previous one runs; waiting for more only idles
    # the CPU and, with clients that wait for each answer, slows the arrivals it waits for.
    max_batch_delay_ms: float = Field(
        0.0, ge=0, le=1000, description="Longest wait for a batch to fill once requests queue up."
    )
    max_queue_size: int = Field(1024, ge=1, description="Items waiting per model before 503s.")
    request_timeout_s: float = Field(10.0, gt=0, le=600, description="Deadline per request (504 after).")
    # Longer than clients' and load balancers' idle timeouts (httpx 5 s, AWS ALB 60 s): the side that
    # closes an idle connection first must be the one that would reuse it, or a request sent just as
    # the server closes meets a reset (seen once in 10,000 soak requests with uvicorn's 5 s and httpx's 5 s).
    keep_alive_s: int = Field(75, ge=1, le=3600, description="How long an idle keep-alive connection stays open.")
    read_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Time a request's headers and body have to arrive, from its first byte (from the connection's "
        "opening for the first request); past it: 408 and the connection is closed.",
    )
    max_connections: int = Field(
        512,
        ge=1,
        description="Open connections per worker; past it a new connection gets a 503 and is closed. "
        "Keep workers x max_connections under the file-descriptor limit (ulimit -n).",
    )

    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest request body (413).")
    max_images: int = Field(64, ge=1, le=4096, description="Most images per request.")
    max_rows: int = Field(256, ge=1, le=65536, description="Most feature rows or sequences per request.")
    max_names: int = Field(256, ge=1, le=65536, description="Most names per request.")
    max_image_pixels: int = Field(4096 * 4096, ge=28 * 28, description="Largest decoded image (413).")
    max_request_pixels: int = Field(
        4 * 4096 * 4096,
        ge=28 * 28,
        description="Most decoded pixels over all images of one request, from their headers (413): "
        "bounds the CPU one request can take to decode.",
    )

    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Comma-separated keys; when set, /v1 needs one."
    )
    admin_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated admin keys; when set, /v1/admin routes (reload, unload) exist and need one "
        "of them. A /v1 API key never opens them. Unset: the admin routes answer 404.",
    )
    store_poll_s: float = Field(
        0.0,
        ge=0,
        le=86400,
        description="Look for new versions in the model store every so many seconds and roll each out "
        "(load beside, verify, optimise, swap); 0 = never. SIGHUP and the admin reload do the same on demand.",
    )
    traffic: str = Field(
        "",
        description="Weighted splits between loaded versions, e.g. 'digits-resnet=1:90,2:10' (weights sum to "
        "100; several models separated by ';'). Both versions are loaded at start.",
    )
    traffic_sticky: bool = Field(
        False, description="Split traffic by a hash of X-Request-ID, so one id always reaches one version."
    )
    shadow: str = Field(
        "",
        description="A version per model that gets a copy of live inputs off the request path, e.g. "
        "'digits-resnet=2'; /metrics shows its agreement with the current version.",
    )
    shadow_sample: float = Field(1.0, gt=0, le=1, description="Share of requests copied to the shadow version.")
    shadow_min_agreement: float | None = Field(
        None,
        ge=0,
        le=1,
        description="A shadow version whose top-1 agreement with the current one is under this is never made "
        "current (once it has compared shadow_min_rows rows); unset: no check.",
    )
    shadow_min_rows: int = Field(100, ge=1, description="Rows a shadow compares before its agreement counts.")
    rollback_error_rate: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Roll a newly promoted version back to the previous one when this share of its forward "
        "batches fail within rollback_window_s; unset: never (the previous version is then unloaded at once).",
    )
    rollback_window_s: float = Field(60.0, gt=0, le=86400, description="How long a promoted version is watched.")
    rollback_min_batches: int = Field(
        20, ge=1, description="Batches a promoted version runs before its error rate counts."
    )
    timing_cache_dir: Path | None = Field(
        None,
        description="A writable folder where kernel-timing decisions are kept per artifact (sha256), torch "
        "version and CPU, so later starts and reloads skip the timing; unset: time on every start.",
    )
    ready_after_optimise: bool = Field(
        True,
        description="Report /health/ready only once every model runs its traced and verified graph, so no "
        "request after ready meets tracing; kernel timing follows in the background. false: ready once verified.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Least severe log level written: debug, info, warning or error."
    )
    access_log: bool = Field(True, description="One JSON line per request.")
    opentelemetry: bool = Field(
        False,
        description="Trace requests with OpenTelemetry (pip install 'tinyserve[otel]'): a server span per request "
        "continuing the caller's traceparent, with decode, queue, forward and encode spans. The SDK's standard "
        "OTEL_* variables configure it (OTEL_TRACES_EXPORTER=otlp by default, console prints spans; "
        "OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER). Off by default.",
    )

    @field_validator("models", "api_keys", "admin_keys", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("models")
    @classmethod
    def _check_models(cls, value: list[str]) -> list[str]:
        bad = [spec for spec in value if not _MODEL_SPEC.match(spec)]
        if bad:
            raise ValueError(f"invalid model spec(s) {bad}: use NAME or NAME:VERSION, e.g. digits-resnet:1")
        return value

    @field_validator("traffic")
    @classmethod
    def _check_traffic(cls, value: str) -> str:
        from service.runtime.traffic import parse_split  # service.runtime imports this module

        parse_split(value)
        return value

    @field_validator("shadow")
    @classmethod
    def _check_shadow(cls, value: str) -> str:
        from service.runtime.traffic import parse_shadow

        parse_shadow(value)
        return value

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError(f"device {value!r} must be one of auto, cpu, cuda, cuda:N")
        return value

    def model_selection(self) -> dict[str, int | None]:
        """Configured models as name -> pinned version (None = highest)."""
        selection: dict[str, int | None] = {}
        for spec in self.models:
            name, _, version = spec.partition(":")
            selection[name] = int(version) if version else None
        return selection

    def model_versions(self) -> dict[str, list[int | None]]:
        """Configured models as name -> the versions to load, each once (None = the highest in the store)."""
        versions: dict[str, list[int | None]] = {}
        for spec in self.models:
            name, _, version = spec.partition(":")
            chosen = int(version) if version else None
            if chosen not in versions.setdefault(name, []):
                versions[name].append(chosen)
        return versions


@lru_cache
def get_settings() -> Settings:
    return Settings()
