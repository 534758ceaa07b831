"""Smoke runs of the training command line: arguments, result record, global state guard."""

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

SMOKE_LIMIT = 1000


@dataclass(frozen=True)
class SmokeRun:
    task: str
    argv: list[str]
    directory: Path
    seconds: float


@contextmanager
def preserved_torch_state() -> Iterator[None]:
    """main() seeds every RNG, turns on deterministic algorithms and sets the thread count: undo that."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    rng = torch.random.get_rng_state(), random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.random.set_rng_state(rng[0])
        random.setstate(rng[1])
        np.random.set_state(rng[2])


def smoke_argv(task: str, data_dir: Path, store: Path) -> list[str]:
    # One thread: on a busy 2-core machine, torch's default two threads per process oversubscribe
    # the cores and a 1-second run takes 30.
    common = ["--limit", str(SMOKE_LIMIT), "--epochs", "1", "--device", "cpu", "--threads", "1"]
    common += ["--store", str(store)]
    if task == "digits":
        return ["digits", "--arch", "cnn", "--data-dir", str(data_dir), *common]
    names = data_dir / "names"
    return [
        "names",
        "--train-csv",
        str(names / "names_train.csv"),
        "--test-csv",
        str(names / "names_test.csv"),
        *common,
    ]
