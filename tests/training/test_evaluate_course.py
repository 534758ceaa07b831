"""``training.evaluate`` on the course's models: extra figures, optional accuracies, tolerances."""

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from artifacts.store import MANIFEST_FILE
from tests.training.course import CourseRun
from training.evaluate import (
    CV_TOLERANCE_POINTS,
    TOLERANCE_POINTS,
    EvaluationResult,
    FigureCheck,
    compare_figures,
    main,
)


@pytest.fixture
def linear_copy(tmp_path: Path, course_run: CourseRun) -> Path:
    """A copy of the trained course artifact (parametrised to the linear one below), safe to edit."""
    directory = tmp_path / course_run.name / "1"
    shutil.copytree(course_run.directory, directory)
    return directory


def edit_extra(directory: Path, **changes: Any) -> None:
    path = directory / MANIFEST_FILE
    data = json.loads(path.read_text())
    data["metrics"]["extra"].update(changes)
    data["metrics"]["extra"] = {k: v for k, v in data["metrics"]["extra"].items() if v is not None}
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("course_run", ["linear-regression"], indirect=True)
def test_agreeing_course_artifact_exits_zero(linear_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(linear_copy), "--data-dir", str(linear_copy / "unused")]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("linear-regression v1: mse ")
    assert ", w 1.99" in line and ", b " in line and ", prediction_at_4 7.99" in line
    assert line.endswith("(test rows 3, manifest 3) ok")


@pytest.mark.parametrize("course_run", ["linear-regression"], indirect=True)
@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"w": 2.01}, id="w-off"),
        pytest.param({"prediction_at_4": 8.5}, id="prediction-off"),
        pytest.param({"mse": None}, id="figure-missing-from-manifest"),
        pytest.param({"r2": 1.0}, id="figure-not-measured"),
    ],
)
def test_a_figure_that_differs_fails(
    linear_copy: Path, changes: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    edit_extra(linear_copy, **changes)
    assert main([str(linear_copy), "--data-dir", str(linear_copy / "unused")]) == 1
    assert capsys.readouterr().out.strip().endswith(" MISMATCH")


@pytest.mark.parametrize(
    ("name", "measured", "recorded", "agrees"),
    [
        ("w", 2.0, 2.0, True),
        ("w", 2.0001, 2.0, True),
        ("w", 2.001, 2.0, False),
        ("prediction_at_4", 8.0007, 8.0, True),  # relative for values above 1
        ("mse", 1e-9, 2e-9, True),
        ("train_char_accuracy", 100.0, 100.0, True),
        ("train_accuracy", 80.0, 80.2, False),
        ("cv_accuracy_mean", 77.0, 77.9, True),
        ("cv_accuracy_mean", 77.0, 78.2, False),
        ("w", math.nan, 2.0, False),
    ],
)
def test_figure_tolerances(name: str, measured: float, recorded: float, agrees: bool) -> None:
    assert FigureCheck(name, measured, recorded).agrees is agrees


def test_tolerance_kinds() -> None:
    assert FigureCheck("cv_accuracy_std", 1.0, 1.0).tolerance == CV_TOLERANCE_POINTS
    assert FigureCheck("train_accuracy", 1.0, 1.0).tolerance == TOLERANCE_POINTS


def test_compare_figures_keeps_the_manifest_order_and_flags_one_sided_names() -> None:
    checks = compare_figures({"b": 0.0, "w": 2.0, "new": 1.0}, {"w": 2.0, "b": 0.0, "old": 3.0})
    assert [c.name for c in checks] == ["w", "b", "old", "new"]
    assert [c.agrees for c in checks] == [True, True, False, False]


def result(measured: float | None, manifest: float | None, figures: tuple[FigureCheck, ...] = ()) -> EvaluationResult:
    return EvaluationResult(Path("x"), "hello-rnn", 1, measured, manifest, 5, 5, figures)


def test_models_without_a_test_accuracy_agree_on_their_figures() -> None:
    ok = result(None, None, (FigureCheck("train_char_accuracy", 100.0, 100.0),))
    assert ok.agrees
    assert ok.summary() == "hello-rnn v1: train_char_accuracy 100 (manifest 100) (test rows 5, manifest 5) ok"
    assert not result(None, None, (FigureCheck("train_char_accuracy", 80.0, 100.0),)).agrees


@pytest.mark.parametrize(("measured", "manifest"), [(None, 80.0), (80.0, None)])
def test_an_accuracy_on_one_side_only_fails(measured: float | None, manifest: float | None) -> None:
    mismatch = result(measured, manifest)
    assert not mismatch.agrees
    assert "none" in mismatch.summary() and mismatch.summary().endswith("MISMATCH")


def test_accuracy_and_figures_in_one_summary() -> None:
    both = EvaluationResult(
        Path("x"), "diabetes-mlp", 1, 80.26, 80.26, 152, 152, (FigureCheck("cv_accuracy_mean", 77.47, 77.47),)
    )
    assert both.summary() == (
        "diabetes-mlp v1: measured 80.26% manifest 80.26% diff +0.00 pp, cv_accuracy_mean 77.47 (manifest 77.47) "
        "(test rows 152, manifest 152) ok"
    )
