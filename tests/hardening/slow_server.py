"""`tinyserve serve` with every digits forward pass slowed, so a test can hold requests in flight.

Run as ``python -m tests.hardening.slow_server SECONDS serve --port N``: it patches the runner class,
then hands the rest of the command line to the real CLI (one worker: uvicorn serves in this process).
"""

import sys
import time
from collections.abc import Sequence

import numpy as np

from service.cli import main
from service.runtime.runners import DigitRunner


def slow_down(seconds: float) -> None:
    forward = DigitRunner.forward

    def slowed(self: DigitRunner, payloads: Sequence[np.ndarray]) -> np.ndarray:
        time.sleep(seconds)
        return forward(self, payloads)

    DigitRunner.forward = slowed  # type: ignore[method-assign]


if __name__ == "__main__":
    slow_down(float(sys.argv[1]))
    main(sys.argv[2:])
