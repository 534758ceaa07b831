"""The in-process limit: images/s of each image model's bare forward pass, no HTTP, no JSON.

``python -m bench.inproc --store models_store`` prints JSON. Run in its own process (by
bench.run, after the servers are stopped) so that it has the CPU to itself. Measured with torch's
default oneDNN setting and with oneDNN off, each with the weights in the plain and the
channels-last layout (tinyserve runs large batches on oneDNN over channels-last weights); the
fastest of the four is the reference.
"""

import argparse
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from artifacts import ImagePreprocessing, ModelStore

LAYOUTS = {"plain": torch.contiguous_format, "channels-last": torch.channels_last}


def timed(fn: Callable[[], object], seconds: float) -> tuple[int, float]:
    for _ in range(3):
        fn()
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        fn()
        calls += 1
    return calls, time.perf_counter() - started


def measure(store: Path, batches: list[int], seconds: float, threads: int) -> list[dict[str, object]]:
    torch.set_num_threads(threads)
    models = ModelStore(store)
    rows: list[dict[str, object]] = []
    for name in models.model_names():
        artifact = models.load(name)
        prep = artifact.manifest.preprocessing
        if not isinstance(prep, ImagePreprocessing) or artifact.golden.pixels is None:
            continue
        golden = artifact.golden.pixels
        for layout, memory_format in LAYOUTS.items():
            model = artifact.model.to(memory_format=memory_format)
            for mkldnn in (True, False):
                torch.backends.mkldnn.enabled = mkldnn  # type: ignore[assignment]
                for batch in batches:
                    pixels = golden[torch.arange(batch) % len(golden)]
                    x = (pixels.float().unsqueeze(1) / 255.0 - prep.mean) / prep.std
                    with torch.inference_mode():
                        calls, elapsed = timed(functools.partial(model, x), seconds)
                    rows.append(
                        {
                            "model": name,
                            "layout": layout,
                            "mkldnn": mkldnn,
                            "threads": threads,
                            "batch": batch,
                            "images_per_s": calls * batch / elapsed,
                            "ms_per_batch": elapsed / calls * 1e3,
                        }
                    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--batches", default="1,32,256")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    rows = measure(args.store, batches, args.seconds, args.threads)
    print(json.dumps({"torch": torch.__version__, "forward": rows}))


if __name__ == "__main__":
    main()
