"""``python -m training.evaluate``: exit status and per-model lines, on copies of the smoke artifacts."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from artifacts import ArtifactIntegrityError
from artifacts.store import MANIFEST_FILE, WEIGHTS_FILE
from tests.training.smoke import SMOKE_LIMIT, SmokeRun
from training.evaluate import EvaluationResult, evaluate_artifact, main

pytestmark = pytest.mark.data


@pytest.fixture
def artifact_copy(smoke_run: SmokeRun, tmp_path: Path) -> Path:
    directory = tmp_path / smoke_run.directory.parent.name / "1"
    shutil.copytree(smoke_run.directory, directory)
    return directory


def edit_metrics(directory: Path, **changes: Any) -> None:
    path = directory / MANIFEST_FILE
    data = json.loads(path.read_text())
    data["metrics"].update(changes)
    path.write_text(json.dumps(data))


def test_agreeing_artifact_exits_zero(artifact_copy: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(artifact_copy), "--data-dir", str(data_dir)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{artifact_copy.parent.name} v1: measured ")
    assert line.endswith(" ok")


def test_manifest_accuracy_off_by_more_than_the_tolerance_fails(
    artifact_copy: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest_accuracy = json.loads((artifact_copy / MANIFEST_FILE).read_text())["metrics"]["test_accuracy"]
    edit_metrics(artifact_copy, test_accuracy=round(manifest_accuracy + 0.2, 2))
    assert main([str(artifact_copy), "--data-dir", str(data_dir)]) == 1
    assert capsys.readouterr().out.strip().endswith(" MISMATCH")


def result_with(measured: float, manifest: float, sizes: tuple[int, int] = (10_000, 10_000)) -> EvaluationResult:
    return EvaluationResult(Path("x"), "digits-cnn", 3, measured, manifest, *sizes)


@pytest.mark.parametrize(
    ("measured", "manifest", "agrees"),
    [
        (99.0, 99.0, True),
        (32.6, 32.5, True),  # 0.10000000000000142 in floating point
        (32.5, 32.6, True),
        (99.01, 99.12, False),
        (99.2, 99.0, False),
        (60.0, 99.0, False),
    ],
)
def test_tolerance_is_a_tenth_of_a_point(measured: float, manifest: float, agrees: bool) -> None:
    assert result_with(measured, manifest).agrees is agrees


def test_test_size_must_match() -> None:
    assert not result_with(99.0, 99.0, (9_999, 10_000)).agrees


def test_different_test_size_fails(artifact_copy: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit_metrics(artifact_copy, test_size=SMOKE_LIMIT + 1)
    assert main([str(artifact_copy), "--data-dir", str(data_dir)]) == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_one_bad_artifact_fails_the_run_but_all_are_reported(
    smoke_run: SmokeRun, artifact_copy: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (artifact_copy / WEIGHTS_FILE).write_bytes(b"tampered")
    assert main([str(artifact_copy), str(smoke_run.directory), "--data-dir", str(data_dir)]) == 1
    captured = capsys.readouterr()
    assert f"{artifact_copy}: cannot evaluate" in captured.err
    assert WEIGHTS_FILE in captured.err
    assert captured.out.strip().endswith(" ok")


def test_tampered_weights_raise_from_the_function(artifact_copy: Path, data_dir: Path) -> None:
    (artifact_copy / WEIGHTS_FILE).write_bytes(b"tampered")
    with pytest.raises(ArtifactIntegrityError, match=WEIGHTS_FILE):
        evaluate_artifact(artifact_copy, data_dir)


@pytest.mark.parametrize("smoke_run", ["names"], indirect=True)
def test_test_csv_overrides_the_data_dir(smoke_run: SmokeRun, data_dir: Path, tmp_path: Path) -> None:
    rows = (data_dir / "names" / "names_test.csv").read_text().splitlines(keepends=True)
    csv = tmp_path / "first_rows.csv"
    csv.write_text("".join(rows[:SMOKE_LIMIT]))
    result = evaluate_artifact(smoke_run.directory, tmp_path / "no-data-here", test_csv=csv)
    assert result.measured_size == SMOKE_LIMIT
    assert result.agrees


def test_summary_line() -> None:
    assert result_with(99.1, 99.25).summary() == (
        "digits-cnn v3: measured 99.10% manifest 99.25% diff -0.15 pp (test rows 10000, manifest 10000) MISMATCH"
    )
