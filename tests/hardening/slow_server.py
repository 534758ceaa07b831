"""`tinyserve serve` with every digits forward pass slowed, so a test can hold requests in flight.

Run as ``python -m tests.hardening.slow_server SECONDS serve --port N``: it patches the runner class for image models,
then hands the rest of the command line to the real CLI (one worker: uvicorn serves in this process).
"""

import sys
import time
from collections.abc import Sequence

import numpy as np

from service.cli import main
from service.runtime.runner import ModelRunner


def slow_down(seconds: float) -> None:
    forward = ModelRunner.forward

    def slowed(self: ModelRunner, payloads: Sequence[np.ndarray]) -> np.ndarray:
        if self.task.kind == "image-classification":
            time.sleep(seconds)
        return forward(self, payloads)

    ModelRunner.forward = slowed  # type: ignore[method-assign]


if __name__ == "__main__":
    slow_down(float(sys.argv[1]))
    main(sys.argv[2:])
