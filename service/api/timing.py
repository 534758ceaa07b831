"""The Server-Timing header: where a prediction's latency went."""

from service.runtime.batcher import BatchTiming


def server_timing(preprocess_s: float, timing: BatchTiming) -> str:
    return (
        f"queue;dur={timing.queued * 1000:.3f}, preprocess;dur={preprocess_s * 1000:.3f}, "
        f'inference;dur={timing.inference * 1000:.3f}, batch_size;desc="{timing.batch_size}"'
    )
