"""Smoke-trained artifacts, made once per session through the real command line entry point."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.training.course import COURSE_COMMANDS, CourseRun, course_argv
from tests.training.smoke import SmokeRun, preserved_torch_state, smoke_argv
from training.__main__ import main


@pytest.fixture(scope="session", params=["digits", "names"])
def smoke_run(request: pytest.FixtureRequest, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    task: str = request.param
    store = tmp_path_factory.mktemp(f"smoke-{task}")
    argv = smoke_argv(task, data_dir, store)
    started = time.perf_counter()
    with preserved_torch_state():
        main(argv)
    seconds = time.perf_counter() - started
    name = "digits-cnn" if task == "digits" else "names-gru"
    return SmokeRun(task=task, argv=argv, directory=store / name / "1", seconds=seconds)


@pytest.fixture(
    scope="session",
    params=[pytest.param(name, marks=pytest.mark.data) if name == "diabetes-mlp" else name for name in COURSE_COMMANDS],
)
def course_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> CourseRun:
    """Each course model trained once per session with its committed recipe, into a temporary store."""
    name: str = request.param
    data_dir: Path | None = request.getfixturevalue("data_dir") if name == "diabetes-mlp" else None
    store = tmp_path_factory.mktemp(f"course-{name}")
    argv = course_argv(name, store, data_dir)
    with preserved_torch_state():
        main(argv)
    return CourseRun(name=name, argv=argv, directory=store / name / "1", data_dir=data_dir)


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Evaluation runs ten times faster on one thread when another job keeps both cores busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
