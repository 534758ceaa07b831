"""Runs of the course's training commands for the tests: arguments and the result record."""

from dataclasses import dataclass
from pathlib import Path

# name in the store -> the command line after ``python -m training``
COURSE_COMMANDS = {
    "linear-regression": ["regression"],
    "logistic-regression": ["logistic"],
    "diabetes-mlp": ["diabetes"],
    "hello-rnncell": ["hello", "--arch", "rnncell"],
    "hello-rnn": ["hello", "--arch", "rnn"],
    "hello-embedding": ["hello", "--arch", "embedding"],
}


@dataclass(frozen=True)
class CourseRun:
    name: str
    argv: list[str]
    directory: Path
    data_dir: Path | None  # only the diabetes model reads data


def course_argv(name: str, store: Path, data_dir: Path | None) -> list[str]:
    # The committed recipe (the defaults), on one thread as scripts/train_all.sh runs it.
    argv = [*COURSE_COMMANDS[name], "--threads", "1", "--store", str(store)]
    return [*argv, "--data-dir", str(data_dir)] if data_dir is not None else argv
