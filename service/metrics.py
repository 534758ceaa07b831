"""Prometheus metrics. With several workers, prometheus-client's multiprocess mode sums them.

Defined once at import (the prometheus-client convention) so that creating
several apps in one process, as the tests do, does not register them twice.
"""

import os

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
MODEL_INFO = Gauge(
    "tinyserve_model_info",
    "1 for each model version being served, by device.",
    ["name", "version", "device"],
    multiprocess_mode="max",
)


def render_latest() -> tuple[bytes, str]:
    """The exposition text; merged over workers when PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
