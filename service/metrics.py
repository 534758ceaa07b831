"""Prometheus metrics. With several workers, prometheus-client's multiprocess mode sums them.

Defined once at import (the prometheus-client convention) so that creating
several apps in one process, as the tests do, does not register them twice.
"""

import os
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

REQUESTS = Counter("tinyserve_requests", "HTTP requests by route and status.", ["route", "method", "status"])
REQUEST_SECONDS = Histogram(
    "tinyserve_request_duration_seconds", "HTTP request latency by route.", ["route"], buckets=LATENCY_BUCKETS
)
BATCH_SIZE = Histogram("tinyserve_batch_size", "Items per forward pass.", ["model"], buckets=BATCH_BUCKETS)
INFERENCE_SECONDS = Histogram(
    "tinyserve_inference_duration_seconds", "Forward pass time per batch.", ["model"], buckets=LATENCY_BUCKETS
)
QUEUE_DEPTH = Gauge("tinyserve_queue_depth", "Items waiting for a batch.", ["model"], multiprocess_mode="livesum")
ITEMS_PREDICTED = Counter("tinyserve_items_predicted", "Items (images, names) predicted.", ["model"])
LOG_LINES_DROPPED = Counter(
    "tinyserve_log_lines_dropped", "Log lines dropped because the log reader fell behind (service/logs.py)."
)
MODEL_INFO = Gauge(
    "tinyserve_model_info",
    "1 for each model version being served, by device.",
    ["name", "version", "device"],
    multiprocess_mode="max",
)


MODEL_TRANSITIONS = Counter(
    "tinyserve_model_transitions",
    "Model version transitions: loaded, promoted, refused, rolled back, unloaded (service/runtime/lifecycle.py).",
    ["model", "from", "to", "reason"],
)
MODEL_VERSION_STATE = Gauge(
    "tinyserve_model_version_current",
    "1 for each model's current version, 0 for a loaded version that is not current (canary, shadow, previous).",
    ["model", "version"],
    multiprocess_mode="livemax",
)
TRAFFIC_SHARE = Gauge(
    "tinyserve_model_traffic_share",
    "Share of a model's requests that its traffic split sends to each version (TINYSERVE_TRAFFIC).",
    ["model", "version"],
    multiprocess_mode="livemax",
)
SHADOW_LABELS = ["model", "version", "shadow"]
SHADOW_AGREEMENT = Gauge(
    "tinyserve_shadow_top1_agreement",
    "Share of shadowed rows whose top-1 answer from the shadow version equals the current version's.",
    SHADOW_LABELS,
    multiprocess_mode="livemin",
)
SHADOW_ABS_DIFF = Gauge(
    "tinyserve_shadow_mean_abs_difference",
    "Mean absolute difference between the current and the shadow version's outputs, per shadowed row.",
    SHADOW_LABELS,
    multiprocess_mode="livemax",
)
SHADOW_ROWS = Counter("tinyserve_shadow_rows", "Rows compared between current and shadow versions.", SHADOW_LABELS)
SHADOW_ERRORS = Counter("tinyserve_shadow_errors", "Shadow requests that failed (never the client's).", SHADOW_LABELS)


def render_latest() -> tuple[bytes, str]:
    """The exposition text; merged over workers when PROMETHEUS_MULTIPROC_DIR is set."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        forget_dead_workers(folder)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def forget_dead_workers(folder: str) -> None:
    """Mark the files of workers that no longer run as dead, so their live gauges leave the sums.

    uvicorn's supervisor replaces a worker that dies without telling the others, and a killed
    worker never decrements what it had queued: its ``tinyserve_queue_depth`` would stay in
    every scrape. Counters and histograms keep the dead worker's counts, as Prometheus expects.
    """
    for path in Path(folder).glob("gauge_live*_*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not _running(int(pid)):
            multiprocess.mark_process_dead(int(pid), folder)  # type: ignore[no-untyped-call]


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True
